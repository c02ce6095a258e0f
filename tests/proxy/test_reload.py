"""Hot reload the way the kubelet updates a mounted ConfigMap: a new timestamped directory and an
atomic swap of the `..data` symlink, under load, with zero failed requests."""

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import yaml
from fixtures.mock_servers import mock_base_url
from fixtures.proxy_servers import proxy_routes

from llm_proxy.state import ROUTES


def kubelet_write(mount: Path, version: int, text: str) -> None:
    """Write `text` as routes.yaml the kubelet's way (AtomicWriter)."""
    data_dir = mount / f"..2026_11_24_00_00_{version:02d}.000000000"
    data_dir.mkdir()
    (data_dir / "routes.yaml").write_text(text)
    tmp_link = mount / "..data_tmp"
    tmp_link.symlink_to(data_dir.name)
    os.replace(tmp_link, mount / "..data")
    link = mount / "routes.yaml"
    if not link.is_symlink():
        link.symlink_to("..data/routes.yaml")


async def test_a_kubelet_style_swap_under_load_loses_nothing(make_proxy, mock_server, tmp_path):
    mount = tmp_path / "routes-mount"
    mount.mkdir()
    table = proxy_routes(mock_base_url(mock_server))
    kubelet_write(mount, 1, yaml.safe_dump(table))
    proxy = await make_proxy(routes_file=mount / "routes.yaml", reload_interval=0.05)
    watched = proxy.app[ROUTES]
    url = proxy.make_url("/v1/chat/completions")
    body = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "hello"}]}
    statuses: list[int] = []

    async with aiohttp.ClientSession() as http:

        async def one(stream: bool) -> None:
            async with http.post(url, json={**body, "stream": stream}) as resp:
                raw = await resp.read()
                ok = resp.status == 200 and (not stream or raw.endswith(b"data: [DONE]\n\n"))
                statuses.append(200 if ok else resp.status)

        async def load() -> None:
            for _ in range(25):
                await asyncio.gather(*(one(stream=(j % 2 == 0)) for j in range(8)))

        new_table = {
            **table,
            "models": [
                *table["models"],
                {"name": "new-model", "group": "mock", "backend": "mock", "upstream_model": "mock-gpt-model-0701"},
            ],
        }

        async def swap() -> None:
            await asyncio.sleep(0.05)
            kubelet_write(mount, 2, yaml.safe_dump(new_table))

        await asyncio.gather(load(), swap())
        assert len(statuses) == 200 and set(statuses) == {200}

        for _ in range(40):
            await asyncio.sleep(0.05)
            if "new-model" in watched.current.routes:
                break
        async with http.post(url, json={**body, "model": "new-model"}) as resp:
            assert resp.status == 200
            assert resp.headers["X-LLM-Proxy-Model"] == "new-model"

        # A broken version is refused, counted, and the last good table stays.
        kubelet_write(
            mount, 3, "backends: {mock: {base_url: 'http://x'}}\nmodels:\n  - {name: a, group: mock, backend: nope}\n"
        )
        for _ in range(40):
            await asyncio.sleep(0.05)
            if watched.last_error:
                break
        assert "unknown backend 'nope'" in watched.last_error
        async with http.post(url, json={**body, "model": "new-model"}) as resp:
            assert resp.status == 200
        async with http.get(proxy.make_url("/metrics")) as resp:
            metrics = await resp.text()
        assert 'llm_proxy_config_reloads_total{file="routes",result="error"} 1.0' in metrics
        assert 'llm_proxy_config_reloads_total{file="routes",result="success"}' in metrics
        async with http.get(proxy.make_url("/readyz")) as resp:
            ready = await resp.json()
        assert resp.status == 200 and "refused" in ready["routes_reload_error"] and "nope" not in json.dumps(ready)


async def test_an_in_flight_request_finishes_on_the_table_it_started_with(make_proxy, mock_server):
    proxy = await make_proxy(reload_interval=0.05)
    url = proxy.make_url("/v1/chat/completions")
    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json=body, headers={"X-Mock-Token-Delay-Ms": "40", "X-Mock-Response-Tokens": "10"}
        ) as resp:
            await resp.content.readuntil(b"\n\n")
            # The model disappears from the table while its answer is still streaming.
            routes = proxy_routes(mock_base_url(mock_server))
            routes["models"] = [m for m in routes["models"] if m["name"] != "mock-gpt-model-0701"]
            proxy.routes_path.write_text(yaml.safe_dump(routes))
            raw = await resp.read()
        assert raw.endswith(b"data: [DONE]\n\n")
        await asyncio.sleep(0.3)
        async with http.post(url, json=body) as resp:
            assert resp.status == 404
