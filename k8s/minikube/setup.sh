#!/usr/bin/env bash
# Start minikube, build both images into it, create the keys Secret, install the chart, print how
# to reach the proxy. docs/minikube.md walks through the same steps by hand.
# Usage: LLM_PROXY_API_KEYS=key1,key2 k8s/minikube/setup.sh   (client keys required; optional env:
#        NAMESPACE=llm-proxy RELEASE=llm OPENAI_API_KEY=...)
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMESPACE=${NAMESPACE:-llm-proxy}
RELEASE=${RELEASE:-llm}
HOST=llm-proxy.test
# The chart needs Kubernetes >= 1.30 (native preStop sleep); pinned so every machine gets the same.
KUBERNETES_VERSION=v1.33.1

for tool in minikube kubectl helm; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is not installed" >&2; exit 1; }
done
[[ -n ${LLM_PROXY_API_KEYS:-} ]] || { echo "setup: export LLM_PROXY_API_KEYS=key-one,key-two first (client keys)" >&2; exit 1; }

# docker runtime: `minikube image build` and skaffold's minikube profile build into its daemon.
# calico: the default CNI ignores NetworkPolicies; calico enforces the chart's.
minikube status >/dev/null 2>&1 || minikube start --cpus=2 --memory=4096 \
  --kubernetes-version="$KUBERNETES_VERSION" --container-runtime=docker --cni=calico
minikube addons enable ingress
minikube addons enable metrics-server

# Build straight into minikube's container runtime: no registry needed (pullPolicy Never).
# Build context services/ (the shared package is in it); -f is relative to the context.
minikube image build -t llm-proxy:dev -f proxy/Dockerfile services
minikube image build -t mock-model:dev -f mock-model/Dockerfile services

NAMESPACE=$NAMESPACE SECRET=llm-proxy-keys k8s/minikube/create-secret.sh

helm upgrade --install "$RELEASE" charts/llm-proxy \
  --namespace "$NAMESPACE" -f k8s/minikube/values.yaml --wait --timeout 5m

# The TUI and curl need a client key once keys are configured.
AUTH=""
if [[ -n ${LLM_PROXY_API_KEYS:-} ]]; then
  AUTH=" --api-key \"\$LLM_PROXY_API_KEY\""
  echo "(export LLM_PROXY_API_KEY=<one of LLM_PROXY_API_KEYS> for the commands below)"
fi

echo
echo "llm-proxy is up. Reach it (docs/minikube.md):"
if [[ $(uname -s) == Linux ]]; then
  echo "  echo \"$(minikube ip) $HOST\" | sudo tee -a /etc/hosts"
else
  echo "  minikube tunnel        # in another terminal; keep it running"
  echo "  echo \"127.0.0.1 $HOST\" | sudo tee -a /etc/hosts"
fi
echo "  curl -s http://$HOST/v1/models"
echo "  llm-tui --url http://$HOST$AUTH"
echo "or without the ingress:"
echo "  kubectl -n $NAMESPACE port-forward svc/$RELEASE-llm-proxy 8000:8000"
echo "  llm-tui --url http://127.0.0.1:8000$AUTH"
echo "  helm test $RELEASE -n $NAMESPACE"
