#!/usr/bin/env bash
# Start minikube, build both images into it, install the chart, print how to reach the proxy.
# Usage: k8s/minikube/setup.sh   (optional env: NAMESPACE=llm-proxy RELEASE=llm OPENAI_API_KEY=...
#        LLM_PROXY_API_KEYS=key1,key2)
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMESPACE=${NAMESPACE:-llm-proxy}
RELEASE=${RELEASE:-llm}
HOST=llm-proxy.local

for tool in minikube kubectl helm; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is not installed" >&2; exit 1; }
done

minikube status >/dev/null 2>&1 || minikube start --cpus=2 --memory=4096
minikube addons enable ingress
minikube addons enable metrics-server

# Build straight into minikube's container runtime: no registry needed (pullPolicy Never).
minikube image build -t llm-proxy:dev services/proxy
minikube image build -t mock-model:dev services/mock-model

# Keys go into a Secret from the environment (never onto a command line or into Helm's release
# data); both may be empty: the mock needs no OpenAI key, and no client keys means open access.
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NAMESPACE" create secret generic "$RELEASE-llm-proxy-keys" \
  --from-file=openai-api-key=<(printf '%s' "${OPENAI_API_KEY:-}") \
  --from-file=client-keys=<(printf '%s' "${LLM_PROXY_API_KEYS:-}" | tr ',' '\n') \
  --dry-run=client -o yaml | kubectl apply -f -

helm upgrade --install "$RELEASE" charts/llm-proxy \
  --namespace "$NAMESPACE" \
  -f k8s/minikube/values.yaml --set secrets.existingSecret="$RELEASE-llm-proxy-keys" \
  --wait --timeout 5m

IP=$(minikube ip)
echo
echo "llm-proxy is up. Add this line to /etc/hosts:"
echo "  $IP $HOST"
echo "then:"
echo "  curl -s http://$HOST/v1/models"
echo "  llm-tui --url http://$HOST"
echo "or without the ingress:"
echo "  kubectl -n $NAMESPACE port-forward svc/$RELEASE-llm-proxy 8000:8000"
echo "  helm test $RELEASE -n $NAMESPACE"
