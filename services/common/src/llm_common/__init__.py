"""What the proxy and the mock model service share, installed into both images.

The two services are built and deployed apart, but they speak the same API and read the same
kinds of settings, so the pieces where they must agree live here once:

- `settings`: typed settings from flags, environment and a file, strictly converted;
- `openai_errors`: OpenAI's error body;
- `chat_request`: the checks every chat completion body goes through;
- `seed`: the original system's question rule (a sample number or a custom question).
"""
