"""The whole flow with the real openai SDK against a real mock model server:
convert -> validate -> train --wait -> publish to the overlay -> the proxy answers the alias, and
still does after the base table is rewritten (what `helm upgrade` does to it)."""

import asyncio
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import yaml
from fixtures.clients import openai_client
from fixtures.mock_servers import mock_base_url

from llm_finetune.cli import REPO, main

CANDIDATE = REPO / "finetune" / "data" / "candidate.xlsx"


@pytest.fixture
async def ft_mock(make_mock_server, monkeypatch):
    server = await make_mock_server(ft_step_seconds=0.05)
    monkeypatch.setenv("OPENAI_BASE_URL", mock_base_url(server))
    monkeypatch.setenv("OPENAI_API_KEY", "mock-key")
    return server


async def run(*argv) -> int:
    # The CLI is synchronous; the servers live on this loop, so the CLI runs in a thread.
    return await asyncio.to_thread(main, [str(a) for a in argv])


async def test_spreadsheet_to_a_served_fine_tuned_model(ft_mock, make_proxy, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    assert await run("convert", CANDIDATE, "-o", data) == 0
    assert await run("validate", data) == 0
    assert await run("train", data, "--suffix", "louis", "--wait", "--poll", "0.05") == 0
    out = capsys.readouterr().out
    assert "created fine-tuning job ftjob-" in out
    assert "Fine-tuning job started" in out and "training loss" in out
    model_id = next(word for word in out.split() if word.startswith("ft:gpt-3.5-turbo-0125:mock:louis:"))

    routes = tmp_path / "routes.yaml"
    base = {
        "backends": {"openai": {"base_url": mock_base_url(ft_mock), "api_key": "${OPENAI_API_KEY:-}"}},
        "models": [{"name": "gpt-3.5-turbo", "group": "openai", "backend": "openai", "context": "knowledge"}],
    }
    routes.write_text(yaml.safe_dump(base, sort_keys=False))
    overlay = tmp_path / "routes-published"
    overlay.mkdir()
    proxy = await make_proxy(routes_file=routes, routes_overlay=overlay, reload_interval=0.05)
    argv = ["--overlay", overlay, "--base", routes]
    assert await run("publish", model_id, "--alias", "louis-ft", *argv) == 0
    assert yaml.safe_load(routes.read_text()) == base  # the base is never written
    assert yaml.safe_load((overlay / "published.yaml").read_text())["models"] == [
        {"name": "louis-ft", "group": "fine-tuned", "backend": "openai", "upstream_model": model_id, "context": "none"}
    ]

    async with openai_client(proxy) as client:

        async def listed() -> dict[str, str]:
            return {m.id: m.model_extra["source"] for m in (await client.models.list()).data}

        async def ask(model: str) -> str:
            reply = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "When is his birthday ?"}]
            )
            assert reply.model == model_id  # the fine-tuned model answered, under its own id
            return reply.choices[0].message.content

        for _ in range(50):
            if "louis-ft" in await listed():
                break
            await asyncio.sleep(0.05)
        assert await listed() == {"gpt-3.5-turbo": "base", "louis-ft": "overlay"}
        assert "1998" in await ask("louis-ft")

        # The base rewritten, as `helm upgrade` writes the chart's table back (one more model).
        upgraded = {**base, "models": [*base["models"], {"name": "gpt-4", "group": "openai", "backend": "openai"}]}
        tmp = routes.with_name(".routes.tmp")
        tmp.write_text(yaml.safe_dump(upgraded, sort_keys=False))
        tmp.replace(routes)
        for _ in range(50):
            if "gpt-4" in await listed():
                break
            await asyncio.sleep(0.05)
        assert await listed() == {"gpt-3.5-turbo": "base", "gpt-4": "base", "louis-ft": "overlay"}
        assert "1998" in await ask("louis-ft")

        assert await run("unpublish", "--alias", "louis-ft", *argv) == 0
        for _ in range(50):
            if "louis-ft" not in await listed():
                break
            await asyncio.sleep(0.05)
        with pytest.raises(openai.NotFoundError):
            await ask("louis-ft")


async def test_status_shows_state_events_and_model(ft_mock, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    assert await run("convert", CANDIDATE, "-o", data) == 0
    assert await run("train", data, "--poll", "0.05") == 0
    job_id = next(w for w in capsys.readouterr().out.split() if w.startswith("ftjob-"))
    await asyncio.sleep(0.3)
    assert await run("status", job_id) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "ft:gpt-3.5-turbo-0125:mock" in out
    assert await run("status", "ftjob-nope") == 2


async def test_a_failed_job_says_why_and_exits_1(ft_mock, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    assert await run("convert", CANDIDATE, "-o", data) == 0
    assert await run("train", data, "--suffix", "will-fail", "--wait", "--poll", "0.05") == 1
    assert "failed" in capsys.readouterr().out


async def test_cancel_through_the_sdk_is_reflected(ft_mock, tmp_path):
    server = ft_mock
    client = openai.AsyncOpenAI(base_url=mock_base_url(server), api_key="x")
    data = tmp_path / "train.jsonl"
    assert await run("convert", CANDIDATE, "-o", data) == 0
    with data.open("rb") as handle:
        uploaded = await client.files.create(file=handle, purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(training_file=uploaded.id, model="gpt-3.5-turbo-0125")
    cancelled = await client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    listed = await client.fine_tuning.jobs.list()
    assert job.id in [j.id for j in listed.data]
    await client.close()


async def test_the_cli_runs_as_a_real_process(ft_mock, tmp_path):
    data = tmp_path / "train.jsonl"
    exe = Path(sys.executable).parent / "llm-finetune"
    done = await asyncio.to_thread(
        subprocess.run, [str(exe), "convert", str(CANDIDATE), "-o", str(data)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    done = await asyncio.to_thread(
        subprocess.run, [str(exe), "validate", str(data), "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0 and '"ok": true' in done.stdout
