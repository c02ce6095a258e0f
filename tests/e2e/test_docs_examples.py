"""The curl examples of the seed API guide and the proxy API reference, and the Postman collection,
run against a real proxy and mock."""

import asyncio
import json
import re
import shlex
from pathlib import Path

import aiohttp
import pytest
from fixtures.mock_servers import mock_base_url
from fixtures.openapi import parse_sse

from llm_proxy.app import PACKAGED_ROUTES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def stack(make_proxy, mock_server, monkeypatch):
    # The packaged table, with "OpenAI" pointed at the mock (which takes any key) so no network is needed.
    monkeypatch.setenv("OPENAI_BASE_URL", mock_base_url(mock_server))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-mock-stands-in-for-openai")
    monkeypatch.setenv("MOCK_MODEL_URL", mock_base_url(mock_server))
    proxy = await make_proxy(PACKAGED_ROUTES.read_text())
    return str(proxy.make_url("")).rstrip("/")


def doc_curls(doc: str) -> list[str]:
    text = (ROOT / "docs" / doc).read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


@pytest.mark.parametrize("doc, at_least", [("seed-api.md", 5), ("proxy.md", 6)])
async def test_every_curl_line_of_the_guides_works(stack, doc, at_least):
    lines = doc_curls(doc)
    assert len(lines) >= at_least
    for line in lines:
        command = line.replace("http://localhost:8000", stack)
        proc = await asyncio.create_subprocess_exec(
            *shlex.split(command), "-w", "\n%{http_code}", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        body, status = out.decode().rsplit("\n", 1)
        assert proc.returncode == 0 and status == "200", (line, status, body[:300])
        if '"stream": true' in line:  # a whole stream: its API's end, and no error event
            last = parse_sse(body)[-1]
            assert last.data == "[DONE]" or last.event == "response.completed", (line, body[-300:])
            assert '"error": {' not in body, (line, body[-300:])
            continue
        reply = json.loads(body)
        assert not reply.get("error"), (line, reply)  # a Responses object has `"error": null`


async def test_every_postman_request_gets_its_expected_status(stack):
    collection = json.loads((ROOT / "postman" / "llm-proxy.postman_collection.json").read_text())
    for env in (ROOT / "postman").glob("*.postman_environment.json"):
        values = {v["key"] for v in json.loads(env.read_text())["values"]}
        assert values == {"baseUrl", "apiKey"}
    ran = 0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for folder in collection["item"]:
            for item in folder["item"]:
                request = item["request"]
                # The first status a request's tests accept: 200 for requests to OpenAI, which also
                # accept the proxy's 502 for a missing key (newman checks that case: test_newman.py).
                script = "\n".join(item["event"][0]["script"]["exec"])
                expected = int(re.search(r"(?:have\.status\(|oneOf\(\[)(\d+)", script).group(1))
                url = request["url"]["raw"].replace("{{baseUrl}}", stack)
                data = request.get("body", {}).get("raw")
                headers = {h["key"]: h["value"] for h in request["header"]}
                async with http.request(request["method"], url, data=data, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == expected, (item["name"], resp.status)
                ran += 1
    assert ran >= 26
