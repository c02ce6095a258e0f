"""Client keys fail closed (security review, issue 15): a keys file that is not what it means to be
is refused, not read as one key per line; no keys means no start unless anonymous access is asked
for; reload errors name where, never what; keys are matched as sent."""

import asyncio
import json
import logging

import pytest
from fixtures.proxy_processes import spawn_proxy

from llm_proxy.app import create_app
from llm_proxy.client_keys import load_client_keys
from llm_proxy.settings import ProxySettings
from llm_proxy.state import CLIENT_KEYS, ROUTES

CHAT = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "hi"}]}
GOOD = "keys:\n  - {key: good-key-123, name: good}\n"


async def status_with(http, proxy, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=CHAT, headers=headers) as resp:
        return resp.status


async def reload_to(proxy, path, text: str) -> None:
    reloadable = proxy.app[CLIENT_KEYS]
    path.write_text(text)
    for _ in range(100):
        await asyncio.sleep(0.05)
        if reloadable.last_error or reloadable.current.find("good-key-123") is None:
            return


BROKEN = [
    # (what an operator meant, what they wrote)
    ("YAML with a syntax error", "keys:\n  - {key: team-a-secret, name: team-a\n  - {key: team-b-secret}\n"),
    ("a wrong top-level key", "key:\n  - {key: team-a-secret}\n"),
    ("a misspelt field (the allowlist would be lost)", "keys:\n  - {key: team-a-secret, model: [ft-mock]}\n"),
    ("a key with a space", "team-a secret\n"),
    ("a line with a colon", "team-a:secret\n"),
    ("a key that is not ASCII", "team-a-s\u00e9cret\n"),
    ("a key twice", "keys:\n  - {key: team-a-secret, name: a}\n  - {key: team-a-secret, name: b}\n"),
]


@pytest.mark.parametrize("meant, text", BROKEN, ids=[m for m, _ in BROKEN])
async def test_a_broken_keys_file_is_a_reload_error_and_the_last_good_keys_stay(
    make_proxy, tmp_path, http, meant, text
):
    keys = tmp_path / "keys"
    keys.write_text(GOOD)
    proxy = await make_proxy(api_keys_file=keys, reload_interval=0.05)
    assert await status_with(http, proxy, "good-key-123") == 200
    await reload_to(proxy, keys, text)
    error = proxy.app[CLIENT_KEYS].last_error
    assert error, f"{meant} was taken"
    assert "team-a-secret" not in error and "secret" not in error.replace(str(keys), "")
    # Its lines did not become keys (they used to, with no allowlist and no limit).
    for line in ("keys:", "- {key: team-a-secret, name: team-a", "team-a secret", "key:", "team-a-secret"):
        assert await status_with(http, proxy, line) == 401
    assert await status_with(http, proxy, "good-key-123") == 200
    async with http.get(proxy.make_url("/readyz")) as resp:
        ready = await resp.json()
    assert "refused" in ready["client_keys_reload_error"] and "secret" not in json.dumps(ready)
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert 'llm_proxy_config_reloads_total{file="client_keys",result="error"} 1.0' in await resp.text()


@pytest.mark.unit
def test_a_yaml_error_names_the_line_never_the_text(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("keys:\n  - {key: sk-team-secret-1, name: a}\n  - {key: *sk-team-secret-2}\n")
    with pytest.raises(ValueError) as err:
        load_client_keys("", keys)
    assert "line 3" in str(err.value) and "sk-team" not in str(err.value)


@pytest.mark.unit
def test_env_keys_are_checked_too_and_never_quoted():
    with pytest.raises(ValueError, match=r"LLM_PROXY_API_KEYS\[1\]") as err:
        load_client_keys("good-key-1, bad key 2", None)
    assert "bad key" not in str(err.value)


@pytest.mark.unit
def test_a_plain_list_and_yaml_still_load(tmp_path):
    plain, full = tmp_path / "plain", tmp_path / "full.yaml"
    plain.write_text("# comment\nkey-one-123\n\nkey-two-456\n")
    full.write_text(GOOD)
    assert [k.name for k in load_client_keys("", plain).keys] == ["key-1", "key-2"]
    assert load_client_keys("", full).find("good-key-123").name == "good"


async def test_a_presented_key_is_not_stripped_of_unicode_whitespace(make_proxy, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("good-key-123\n")
    proxy = await make_proxy(api_keys_file=keys)
    body = json.dumps(CHAT).encode()

    async def status(key: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer "
            + key
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        line = await reader.readline()
        writer.close()
        return line.split()[1]

    assert await status(b"good-key-123") == b"200"
    assert await status("\u00a0good-key-123\u2003".encode()) == b"401"  # was 200: str.strip() took them off


async def test_a_keys_file_emptied_while_keys_are_required_is_refused(make_proxy, tmp_path, http):
    keys = tmp_path / "keys"
    keys.write_text(GOOD)
    proxy = await make_proxy(api_keys_file=keys, reload_interval=0.05, allow_anonymous=False)
    await reload_to(proxy, keys, "# nobody\n")
    assert "no client keys" in proxy.app[CLIENT_KEYS].last_error
    assert await status_with(http, proxy, "anything") == 401  # not an open proxy
    assert await status_with(http, proxy, "good-key-123") == 200


@pytest.mark.unit
def test_no_keys_and_no_anonymous_access_is_no_app(tmp_path):
    with pytest.raises(ValueError, match="--allow-anonymous"):
        create_app(ProxySettings())
    assert not create_app(ProxySettings(allow_anonymous=True))[CLIENT_KEYS].current.enabled


async def test_the_proxy_refuses_to_start_without_keys_and_says_how_to_configure_them():
    proc, _ = await spawn_proxy()
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    text = out.decode()
    assert "no client keys" in text and "LLM_PROXY_API_KEYS_FILE" in text and "--allow-anonymous" in text


@pytest.mark.parametrize("args, env", [(["--allow-anonymous"], {}), ([], {"LLM_PROXY_ALLOW_ANONYMOUS": "true"})])
async def test_anonymous_access_asked_for_explicitly_starts_and_says_so(http, args, env):
    proc, port = await spawn_proxy(*args, env=env)
    try:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/v1/models") as resp:
                    assert resp.status == 200
                    break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the proxy did not start")
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert "ANONYMOUS ACCESS" in out.decode()


SECRET = "sk-live-routes-secret-0123456789"


@pytest.mark.parametrize(
    "table",
    [
        f"backends:\n  openai: {{base_url: https://x/v1, api_key: {SECRET}\nmodels: []\n",
        f"backends:\n  openai: {{base_url: 'https://x/v1', api_key: *{SECRET}}}\nmodels: []\n",
        "backends:\n  openai: {base_url: 'https://x/v1', api_key: 1234567890123456}\nmodels: [{name: m, group: openai, backend: openai}]\n",
        f"backends:\n  openai: {{base_url: 'ftp://{SECRET}@x', api_key: k}}\nmodels: [{{name: m, group: openai, backend: openai}}]\n",
        f"backends:\n  openai: {{base_url: 'https://x/v1', {SECRET}: v}}\nmodels: [{{name: m, group: openai, backend: openai}}]\n",
        f"backends:\n  openai: {{base_url: 'https://x/v1'}}\nmodels: [{{name: m, group: {SECRET}, backend: openai}}]\n",
    ],
    ids=["yaml-error", "yaml-alias", "ill-typed-key", "bad-url", "unknown-field", "bad-group"],
)
async def test_a_refused_routing_table_is_reported_without_its_values(make_proxy, tmp_path, http, caplog, table):
    proxy = await make_proxy(reload_interval=0.05)
    routes = proxy.app[ROUTES]
    caplog.set_level(logging.ERROR)
    proxy.routes_path.write_text(table)
    for _ in range(100):
        await asyncio.sleep(0.05)
        if routes.last_error:
            break
    assert routes.last_error
    assert SECRET not in routes.last_error and "1234567890123456" not in routes.last_error
    assert SECRET not in caplog.text and "1234567890123456" not in caplog.text
    async with http.get(proxy.make_url("/readyz")) as resp:
        text = await resp.text()
    assert "refused" in text and SECRET not in text


@pytest.mark.unit
def test_short_keys_work_but_are_named_in_a_warning_without_the_key(tmp_path, caplog):
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text("keys:\n  - {key: team-a-secret, name: team-a}\n  - {key: " + "x" * 32 + ", name: team-b}\n")
    with caplog.at_level(logging.WARNING, logger="llm_proxy.client_keys"):
        keys = load_client_keys("short-env", keys_file)
    assert keys.find("team-a-secret") is not None and keys.find("short-env") is not None
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2, warned
    assert any("client team-a" in w and "shorter than 20" in w for w in warned)
    assert any("LLM_PROXY_API_KEYS[0]" in w for w in warned)
    assert not any("team-b" in w for w in warned)
    assert not any("team-a-secret" in w or "short-env" in w for w in warned)
