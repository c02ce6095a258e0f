{{/* Shared state on Redis (docs/shared-state.md): the in-release Redis (redis.enabled) or a managed
one (redis.url, or redis.existingSecret holding the URL with its password). */}}

{{- define "llm-proxy.redisName" -}}
{{- printf "%s-redis" (include "llm-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-proxy.redisSelectorLabels" -}}
{{ include "llm-proxy.releaseSelectorLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{/* Whether the proxies use Redis at all; fails on values that contradict each other. */}}
{{- define "llm-proxy.redisUsed" -}}
{{- $r := .Values.redis }}
{{- $external := or $r.url $r.existingSecret }}
{{- if and $r.enabled $external }}
{{- fail "redis: set either redis.enabled (a Redis in this release) or redis.url / redis.existingSecret (your own), not both" }}
{{- end }}
{{- if and $r.url $r.existingSecret }}
{{- fail "redis: set redis.url or redis.existingSecret, not both" }}
{{- end }}
{{- if and $external .Values.networkPolicy.enabled (not $r.egressCidr) }}
{{- fail "redis.egressCidr: the proxy's NetworkPolicy must let it reach your Redis; set the CIDR it is in (e.g. the VPC's), or networkPolicy.enabled=false" }}
{{- end }}
{{- if or $r.enabled $external }}true{{ end }}
{{- end }}

{{/* Proxy container env for shared state. */}}
{{- define "llm-proxy.redisEnv" -}}
{{- $r := .Values.redis }}
{{- if $r.enabled }}
- {name: LLM_PROXY_REDIS_URL, value: {{ printf "redis://%s.%s.svc.%s:%v/0" (include "llm-proxy.redisName" .) .Release.Namespace .Values.clusterDomain $r.port | quote }}}
{{- else if $r.url }}
- {name: LLM_PROXY_REDIS_URL, value: {{ $r.url | quote }}}
{{- else if $r.existingSecret }}
- {name: LLM_PROXY_REDIS_URL_FILE, value: /etc/llm-proxy/redis/url}
{{- end }}
{{- end }}

{{- define "llm-proxy.redisVolumeMounts" -}}
{{- if .Values.redis.existingSecret }}
- {name: redis-url, mountPath: /etc/llm-proxy/redis, readOnly: true}
{{- end }}
{{- end }}

{{- define "llm-proxy.redisVolumes" -}}
{{- with .Values.redis.existingSecret }}
- name: redis-url
  secret:
    secretName: {{ . }}
    defaultMode: 0400
    items:
      - {key: {{ $.Values.redis.existingSecretKey }}, path: url}
{{- end }}
{{- end }}
