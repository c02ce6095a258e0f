#!/usr/bin/env bash
# Create (or update) the Secret the minikube values name: keys openai-api-key and client-keys,
# from the environment, never from a command line or Helm's release data. Both may be empty: the
# mock needs no OpenAI key, and no client keys means open access (the NOTES warn about it).
# Used by setup.sh and, as a deploy hook, by `skaffold dev -p minikube`.
# Usage: k8s/minikube/create-secret.sh   (env: NAMESPACE=llm-proxy SECRET=llm-proxy-keys
#        OPENAI_API_KEY=... LLM_PROXY_API_KEYS=key1,key2)
set -euo pipefail

NAMESPACE=${NAMESPACE:-llm-proxy}
SECRET=${SECRET:-llm-proxy-keys}

kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$NAMESPACE" create secret generic "$SECRET" \
  --from-file=openai-api-key=<(printf '%s' "${OPENAI_API_KEY:-}") \
  --from-file=client-keys=<(printf '%s' "${LLM_PROXY_API_KEYS:-}" | tr ',' '\n') \
  --dry-run=client -o yaml | kubectl apply -f -
