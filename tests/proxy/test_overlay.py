"""The routes overlay: `models:` entries merged over the base table (new names add, existing names
replace), validated as one, hot-reloaded from a kubelet-style ConfigMap mount with last-good
semantics, and what an upgrade does to the base leaves published models served."""

import pytest
import yaml
from fixtures.kubelet import kubelet_write, wait_for
from fixtures.proxy_servers import proxy_routes

from llm_proxy.routing import RoutingError, merge_routes
from llm_proxy.state import ROUTES

BASE = """\
backends:
  mock: {base_url: "http://127.0.0.1:5050/v1"}
  openai: {base_url: "https://api.openai.com/v1", api_key: "${OPENAI_API_KEY:-}"}
models:
  - {name: gpt-4, group: openai, backend: openai, context: knowledge, fallbacks: [mock-gpt-model-0701]}
  - {name: louis-ft, group: fine-tuned, backend: openai, upstream_model: "ft:old"}
  - {name: mock-gpt-model-0701, group: mock, backend: mock}
"""


def overlay(*models) -> str:
    return yaml.safe_dump({"models": list(models)}, sort_keys=False)


def alias(name, upstream, backend="mock", **extra):
    return {"name": name, "group": "fine-tuned", "backend": backend, "upstream_model": upstream, **extra}


# The merge, as a pure function (the validator the toolkit also runs).


@pytest.mark.unit
def test_an_overlay_adds_and_replaces_in_place_and_says_so():
    table = merge_routes(BASE, [("a.yaml", overlay(alias("louis-ft", "ft:new", "openai"), alias("new-ft", "ft:x")))])
    assert table.names() == ["gpt-4", "louis-ft", "mock-gpt-model-0701", "new-ft"]
    assert table.get("louis-ft").upstream_model == "ft:new"
    assert {n: r.source for n, r in table.routes.items()} == {
        "gpt-4": "base",
        "louis-ft": "overlay",
        "mock-gpt-model-0701": "base",
        "new-ft": "overlay",
    }


@pytest.mark.unit
def test_overlays_apply_in_the_order_given_and_may_be_empty():
    first = ("10-a.yaml", overlay(alias("x", "ft:1")))
    second = ("20-b.yaml", overlay(alias("x", "ft:2")))
    assert merge_routes(BASE, [first, second], environ={}).get("x").upstream_model == "ft:2"
    for empty in ("", "models: []\n", "models:\n", "# nothing published\n"):
        assert merge_routes(BASE, [("e.yaml", empty)], environ={}).names() == merge_routes(BASE, []).names()


@pytest.mark.unit
def test_a_base_model_may_fall_back_to_a_published_one():
    base = BASE.replace("fallbacks: [mock-gpt-model-0701]", "fallbacks: [ft-published]")
    with pytest.raises(RoutingError, match=r"^models\[0\]\.fallbacks: unknown model 'ft-published'"):
        merge_routes(base, [])
    assert merge_routes(base, [("p.yaml", overlay(alias("ft-published", "ft:1")))]).get("gpt-4").fallbacks == (
        "ft-published",
    )


@pytest.mark.parametrize(
    "text, message",
    [
        (overlay(alias("a", "ft:1", backend="azure")), "p.yaml: models[0].backend: unknown backend 'azure'"),
        (overlay(alias("ok", "ft:1"), {"name": "b", "group": "gold", "backend": "mock"}), "p.yaml: models[1].group"),
        (overlay(alias("a", "ft:1", fallbacks=["nope"])), "p.yaml: models[0].fallbacks: unknown model 'nope'"),
        (overlay(alias("a", "ft:1"), alias("a", "ft:2")), "p.yaml: models[1].name: duplicate model name 'a'"),
        (overlay({"group": "mock", "backend": "mock"}), "p.yaml: models[0].name: must be a non-empty string"),
        (overlay(alias("a", "ft:1", colour="red")), "p.yaml: models[0]: unknown key(s) colour"),
        ("backends: {x: {base_url: 'http://x'}}\nmodels: []\n", "p.yaml: unknown top-level key(s) backends"),
        ("models: {a: 1}\n", "p.yaml: models: must be a list"),
        ("- a\n", "p.yaml: an overlay must be a mapping with 'models'"),
        ("models: [\n", "p.yaml: not valid YAML"),
    ],
)
@pytest.mark.unit
def test_a_bad_overlay_is_refused_naming_its_file_and_key(text, message):
    with pytest.raises(RoutingError) as caught:
        merge_routes(BASE, [("p.yaml", text)], environ={})
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.unit
def test_an_overlay_entry_that_breaks_a_fallback_cycle_check_names_the_overlay():
    looped = overlay(alias("mock-gpt-model-0701", "m", fallbacks=["gpt-4"]))
    with pytest.raises(RoutingError, match="fallback cycle"):
        merge_routes(BASE, [("p.yaml", looped)], environ={})


# A real proxy, reading a kubelet-style mount of the overlay ConfigMap.


@pytest.fixture
def base_table(mock_server):
    from fixtures.mock_servers import mock_base_url

    return proxy_routes(mock_base_url(mock_server))


async def models(http, proxy) -> dict[str, str]:
    async with http.get(proxy.make_url("/v1/models")) as resp:
        assert resp.status == 200
        return {m["id"]: m["source"] for m in (await resp.json())["data"]}


async def chat(http, proxy, model) -> tuple[int, str]:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body) as resp:
        data = await resp.json()
        return resp.status, (data.get("model") if resp.status == 200 else data["error"]["message"])


async def readyz(http, proxy) -> dict:
    async with http.get(proxy.make_url("/readyz")) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_base_only_when_the_overlay_does_not_exist(make_proxy, tmp_path, http):
    proxy = await make_proxy(routes_overlay=tmp_path / "not-there", reload_interval=0.05)
    assert set((await models(http, proxy)).values()) == {"base"}
    assert (await chat(http, proxy, "ft-mock")) == (200, "ft:mock:test::1")
    ready = await readyz(http, proxy)
    assert ready["overlay_models"] == 0 and "routes_reload_error" not in ready


async def test_the_overlay_lifecycle_on_a_configmap_mount(make_proxy, base_table, tmp_path, http):
    """Published, upgraded over, broken, fixed, removed: the way a cluster lives with it."""
    base_mount, overlay_mount = tmp_path / "routes", tmp_path / "routes-published"
    kubelet_write(base_mount, {"routes.yaml": yaml.safe_dump(base_table)})
    overlay_mount.mkdir()  # an optional ConfigMap that does not exist yet: an empty mount
    proxy = await make_proxy(routes_file=base_mount / "routes.yaml", routes_overlay=overlay_mount, reload_interval=0.05)
    watched = proxy.app[ROUTES]
    assert (await chat(http, proxy, "louis-ft"))[0] == 404

    # Published: one new alias, one base model pointed at a newer fine-tune.
    kubelet_write(
        overlay_mount,
        {
            "published.yaml": overlay(
                alias("louis-ft", "ft:mock:louis::2"), alias("ft-mock", "ft:mock:test::2", context="none")
            )
        },
    )
    await wait_for(lambda: "louis-ft" in watched.current.routes)
    assert await chat(http, proxy, "louis-ft") == (200, "ft:mock:louis::2")
    assert await chat(http, proxy, "ft-mock") == (200, "ft:mock:test::2")
    listed = await models(http, proxy)
    assert listed == {
        "mock-gpt-model-0701": "base",
        "grounded-mock": "base",
        "ft-mock": "overlay",
        "louis-ft": "overlay",
    }
    assert (await readyz(http, proxy))["overlay_models"] == 2

    # `helm upgrade` writes the chart's original table back over the base (here with one more
    # model): the published alias is still served, and the base's own change shows too.
    upgraded = {**base_table, "models": [*base_table["models"], alias("from-helm", "mock-gpt-model-0701")]}
    kubelet_write(base_mount, {"routes.yaml": yaml.safe_dump(upgraded)})
    await wait_for(lambda: "from-helm" in watched.current.routes)
    assert await chat(http, proxy, "louis-ft") == (200, "ft:mock:louis::2")
    assert await chat(http, proxy, "from-helm") == (200, "mock-gpt-model-0701")

    # A bad overlay is refused with its file and key named; the last good table stays.
    kubelet_write(overlay_mount, {"published.yaml": overlay(alias("louis-ft", "ft:3", backend="opnai"))})
    await wait_for(lambda: watched.last_error is not None)
    assert watched.last_error.startswith(
        str(overlay_mount / "published.yaml") + ": models[0].backend: unknown backend 'opnai'"
    )
    assert "refused" in (await readyz(http, proxy))["routes_reload_error"]  # why is in the log only
    assert await chat(http, proxy, "louis-ft") == (200, "ft:mock:louis::2")
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert 'llm_proxy_config_reloads_total{file="routes",result="error"} 1.0' in await resp.text()

    # Fixed: taken, error cleared.
    kubelet_write(overlay_mount, {"published.yaml": overlay(alias("louis-ft", "ft:mock:louis::3"))})
    await wait_for(lambda: watched.last_error is None)
    assert await chat(http, proxy, "louis-ft") == (200, "ft:mock:louis::3")
    assert await chat(http, proxy, "ft-mock") == (200, "ft:mock:test::1")  # the base's own again

    # The ConfigMap deleted: the mount empties, the alias goes, the base stays.
    kubelet_write(overlay_mount, {})
    await wait_for(lambda: "louis-ft" not in watched.current.routes)
    assert (await chat(http, proxy, "louis-ft"))[0] == 404
    assert set((await models(http, proxy)).values()) == {"base"}


async def test_an_overlay_file_that_comes_and_goes(make_proxy, tmp_path, http):
    path = tmp_path / "published.yaml"
    proxy = await make_proxy(routes_overlay=path, reload_interval=0.05)
    watched = proxy.app[ROUTES]
    path.write_text(overlay(alias("louis-ft", "ft:mock:louis::1")))
    await wait_for(lambda: "louis-ft" in watched.current.routes)
    assert await chat(http, proxy, "louis-ft") == (200, "ft:mock:louis::1")
    path.unlink()
    await wait_for(lambda: "louis-ft" not in watched.current.routes)
    assert (await chat(http, proxy, "louis-ft"))[0] == 404


async def test_files_of_an_overlay_directory_apply_in_name_order(make_proxy, tmp_path, http):
    mount = tmp_path / "overlay"
    kubelet_write(
        mount,
        {
            "20-later.yaml": overlay(alias("louis-ft", "ft:mock:louis::later")),
            "10-first.yaml": overlay(alias("louis-ft", "ft:mock:louis::first"), alias("other", "ft:o")),
            "notes.txt": "not an overlay",
        },
    )
    proxy = await make_proxy(routes_overlay=mount)
    assert await chat(http, proxy, "louis-ft") == (200, "ft:mock:louis::later")
    assert await chat(http, proxy, "other") == (200, "ft:o")


async def test_a_bad_overlay_at_start_serves_the_base_and_says_why(make_proxy, tmp_path, http):
    """A toolkit-owned file must not keep a Helm release's pods from starting."""
    path = tmp_path / "published.yaml"
    path.write_text(overlay(alias("louis-ft", "ft:1", backend="gone")))
    proxy = await make_proxy(routes_overlay=path, reload_interval=0.05)
    assert "refused" in (await readyz(http, proxy))["routes_reload_error"]
    assert "published.yaml: models[0].backend: unknown backend 'gone'" in proxy.app[ROUTES].last_error
    assert await chat(http, proxy, "ft-mock") == (200, "ft:mock:test::1")
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert 'llm_proxy_config_reloads_total{file="routes",result="error"} 1.0' in await resp.text()
    path.write_text(overlay(alias("louis-ft", "ft:mock:louis::1")))
    await wait_for(lambda: proxy.app[ROUTES].last_error is None)
    assert await chat(http, proxy, "louis-ft") == (200, "ft:mock:louis::1")


@pytest.mark.unit
def test_a_bad_base_still_stops_the_start(tmp_path):
    from llm_proxy.app import create_app
    from llm_proxy.settings import ProxySettings

    base = tmp_path / "routes.yaml"
    base.write_text("backends: {}\nmodels: []\n")
    with pytest.raises(RoutingError, match="backends"):
        create_app(ProxySettings(routes=base, routes_overlay=tmp_path / "absent"))


@pytest.mark.unit
def test_the_overlay_setting_comes_from_the_flag_or_the_environment(tmp_path):
    from llm_proxy.settings import parse_args

    assert parse_args(["--routes-overlay", "/x/y"], environ={}).routes_overlay.as_posix() == "/x/y"
    assert parse_args([], environ={"LLM_PROXY_ROUTES_OVERLAY": "/etc/o"}).routes_overlay.as_posix() == "/etc/o"
    assert parse_args([], environ={}).routes_overlay is None
