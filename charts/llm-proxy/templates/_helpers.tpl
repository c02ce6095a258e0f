{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "llm-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, unless the release name already contains it. */}}
{{- define "llm-proxy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "llm-proxy.mockName" -}}
{{- printf "%s-mock" (include "llm-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object, the way `helm create` does it: they include the release's selector
labels (name, instance) once. Objects of one component add it with llm-proxy.componentLabels. */}}
{{- define "llm-proxy.labels" -}}
helm.sh/chart: {{ include "llm-proxy.chart" . }}
{{ include "llm-proxy.releaseSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-proxy
{{- end }}

{{- define "llm-proxy.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component's objects: (list $ "proxy"). */}}
{{- define "llm-proxy.componentLabels" -}}
{{ include "llm-proxy.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels plus extra ones: (list $ "proxy" extraLabels), or (list $ "" extra) for no component.
Built as one map, so no key can repeat (Go's yaml.v3, as in skaffold, kustomize and flux, refuses
a repeated key); the chart's labels win over extra ones with the same key: selectors depend on them. */}}
{{- define "llm-proxy.labelsWith" -}}
{{- $root := index . 0 }}
{{- $labels := fromYaml (include "llm-proxy.labels" $root) }}
{{- with index . 1 }}
{{- $_ := set $labels "app.kubernetes.io/component" . }}
{{- end }}
{{- toYaml (merge $labels (index . 2 | default dict)) }}
{{- end }}

{{- define "llm-proxy.selectorLabels" -}}
{{ include "llm-proxy.releaseSelectorLabels" . }}
app.kubernetes.io/component: proxy
{{- end }}

{{- define "llm-proxy.mockSelectorLabels" -}}
{{ include "llm-proxy.releaseSelectorLabels" . }}
app.kubernetes.io/component: mock-model
{{- end }}

{{- define "llm-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llm-proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "llm-proxy.secretName" -}}
{{- default (printf "%s-secrets" (include "llm-proxy.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "llm-proxy.proxyImage" -}}
{{- printf "%s:%s" .Values.proxy.image.repository (default .Chart.AppVersion .Values.proxy.image.tag) }}
{{- end }}

{{- define "llm-proxy.mockImage" -}}
{{- printf "%s:%s" .Values.mock.image.repository (default .Chart.AppVersion .Values.mock.image.tag) }}
{{- end }}

{{/* The in-cluster URL of the mock model service. */}}
{{- define "llm-proxy.mockUrl" -}}
{{- printf "http://%s.%s.svc.%s:%v/v1" (include "llm-proxy.mockName" .) .Release.Namespace .Values.clusterDomain .Values.mock.service.port }}
{{- end }}

{{/* The ConfigMap holding routes.yaml: the chart's own, or proxy.existingRoutesConfigMap. */}}
{{- define "llm-proxy.routesConfigMap" -}}
{{- default (printf "%s-routes" (include "llm-proxy.fullname" .)) .Values.proxy.existingRoutesConfigMap }}
{{- end }}

{{/* The routing table: values.routes, plus the in-cluster mock backend when the mock is deployed. */}}
{{- define "llm-proxy.routes" -}}
{{- $routes := deepCopy .Values.routes }}
{{- $backends := $routes.backends | default dict }}
{{- if and .Values.mock.enabled (not (hasKey $backends "mock")) }}
{{- /* The mock bills nothing, so a broken call to it may be repeated (idempotent). Clients' X-Mock-*
latency and fault knobs reach it only when mock.forwardTestHeaders asks (anyone could stall it). */}}
{{- $mock := dict "base_url" (include "llm-proxy.mockUrl" .) "idempotent" true }}
{{- if .Values.mock.forwardTestHeaders }}
{{- $_ := set $mock "forward_test_headers" true }}
{{- end }}
{{- $_ := set $backends "mock" $mock }}
{{- end }}
{{- range $routes.models }}
{{- if not (hasKey $backends .backend) }}
{{- fail (printf "routes.models: %s uses backend %q, which is not defined (is mock.enabled false?)" .name .backend) }}
{{- end }}
{{- end }}
{{- $_ := set $routes "backends" $backends }}
{{- toYaml $routes }}
{{- end }}

{{/* Container security context shared by every container. */}}
{{- define "llm-proxy.securityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}
