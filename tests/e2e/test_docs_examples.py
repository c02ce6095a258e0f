"""The seed API guide's curl examples and the Postman collection, run against a real proxy and mock."""

import asyncio
import json
import re
import shlex
from pathlib import Path

import aiohttp
import pytest
from fixtures.mock_servers import mock_base_url

from llm_proxy.app import PACKAGED_ROUTES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def stack(make_proxy, mock_server, monkeypatch):
    # The packaged table, with "OpenAI" pointed at the mock so no key or network is needed.
    monkeypatch.setenv("OPENAI_BASE_URL", mock_base_url(mock_server))
    monkeypatch.setenv("MOCK_MODEL_URL", mock_base_url(mock_server))
    proxy = await make_proxy(PACKAGED_ROUTES.read_text())
    return str(proxy.make_url("")).rstrip("/")


def doc_curls(doc: str) -> list[str]:
    text = (ROOT / "docs" / doc).read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


async def test_every_curl_line_of_the_seed_api_guide_works(stack):
    lines = doc_curls("seed-api.md")
    assert len(lines) >= 5
    for line in lines:
        command = line.replace("http://localhost:8000", stack)
        proc = await asyncio.create_subprocess_exec(
            *shlex.split(command), "-w", "\n%{http_code}", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        body, status = out.decode().rsplit("\n", 1)
        assert proc.returncode == 0 and status == "200", (line, status, body[:300])
        reply = json.loads(body)
        assert "error" not in reply, (line, reply)


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
                expected = int(re.search(r"have\.status\((\d+)\)", item["event"][0]["script"]["exec"][0]).group(1))
                url = request["url"]["raw"].replace("{{baseUrl}}", stack)
                data = request.get("body", {}).get("raw")
                headers = {h["key"]: h["value"] for h in request["header"]}
                async with http.request(request["method"], url, data=data, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == expected, (item["name"], resp.status)
                ran += 1
    assert ran >= 15
