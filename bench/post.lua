-- wrk script: POST a chat completion (body from $BODY) and print the figures as one JSON line.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Mock-Response-Tokens"] = os.getenv("RESPONSE_TOKENS") or "20"
-- Every target gets the same key (LiteLLM requires its master key; the mock and our keyless proxy ignore it).
if os.getenv("AUTH") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTH") end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_us": %d, "errors": %d, "p50": %d, "p90": %d, "p99": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
