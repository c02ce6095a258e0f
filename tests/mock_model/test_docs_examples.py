"""Every curl line of docs/mock-model.md, run against a real mock: each gets OpenAI's shape back."""

import asyncio
import json
import re
import shlex
from pathlib import Path

from fixtures import openapi

DOC = Path(__file__).resolve().parents[2] / "docs" / "mock-model.md"


def curl_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


async def run(line: str, base: str) -> tuple[str, str]:
    command = line.replace("localhost:5050", base)
    proc = await asyncio.create_subprocess_exec(
        *shlex.split(command), "-w", "\n%{http_code}", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, line
    body, status = out.decode().rsplit("\n", 1)
    return body, status


async def test_every_curl_line_answers_in_openais_shape(mock_server):
    base = str(mock_server.make_url("")).rstrip("/")
    lines = curl_lines()
    assert len(lines) >= 7
    expected = {
        "/v1/chat/completions": openapi.CHAT_COMPLETION,
        "/v1/responses": openapi.RESPONSE,
        "/v1/embeddings": openapi.EMBEDDINGS,
        "/v1/completions": openapi.COMPLETION,
        "/v1/models/": openapi.MODEL,
    }
    for line in lines:
        body, status = await run(line, base)
        if "X-Mock-Fault" in line:
            assert status == "429", line
            openapi.assert_conforms(openapi.ERROR, json.loads(body))
        elif '"stream":true' in line:
            assert status == "200", line
            assert openapi.assert_responses_stream(body)[-1]["type"] == "response.completed"
        else:
            assert status == "200", (line, body[:300])
            path = re.search(r"/v1/[a-z/]+", line).group(0)
            schema = next(s for prefix, s in expected.items() if path.startswith(prefix))
            openapi.assert_conforms(schema, json.loads(body))
