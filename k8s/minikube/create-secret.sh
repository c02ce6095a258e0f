#!/usr/bin/env bash
# Create (or update) the Secret the minikube values name: keys openai-api-key and client-keys,
# from the environment, never from a command line or Helm's release data. The OpenAI key may be
# empty (the mock needs none); client keys may not: a proxy without them does not start.
# Used by setup.sh and, as a deploy hook, by `skaffold dev -p minikube`.
# Usage: k8s/minikube/create-secret.sh   (env: NAMESPACE=llm-proxy SECRET=llm-proxy-keys
#        OPENAI_API_KEY=... LLM_PROXY_API_KEYS=key1,key2)
set -euo pipefail

NAMESPACE=${NAMESPACE:-llm-proxy}
SECRET=${SECRET:-llm-proxy-keys}

if [[ -z ${LLM_PROXY_API_KEYS:-} ]]; then
  echo "create-secret.sh: set LLM_PROXY_API_KEYS=key-one,key-two (the client keys the proxy accepts);" >&2
  echo "  the proxy refuses to start without client keys, so that no one can spend its OpenAI key unasked." >&2
  exit 1
fi

kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$NAMESPACE" create secret generic "$SECRET" \
  --from-file=openai-api-key=<(printf '%s' "${OPENAI_API_KEY:-}") \
  --from-file=client-keys=<(printf '%s' "${LLM_PROXY_API_KEYS:-}" | tr ',' '\n') \
  --dry-run=client -o yaml | kubectl apply -f -
