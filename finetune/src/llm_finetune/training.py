"""Upload training data, create a fine-tuning job, follow it to the end (OpenAI SDK conventions:
OPENAI_API_KEY, OPENAI_BASE_URL)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from .errors import ToolkitError

TERMINAL = {"succeeded", "failed", "cancelled"}


def client():
    import openai

    try:
        return openai.OpenAI(max_retries=2)
    except openai.OpenAIError as exc:  # no API key configured
        raise ToolkitError(
            f"{exc} (set OPENAI_API_KEY; OPENAI_BASE_URL points at another server, e.g. the mock model)"
        ) from None


def upload(api, path: Path, console: Console, poll: float = 0.5, timeout: float = 600) -> str:
    with open(path, "rb") as handle:
        uploaded = api.files.create(file=handle, purpose="fine-tune")
    console.print(f"uploaded {path} as [bold]{uploaded.id}[/bold]")
    deadline = time.monotonic() + timeout
    while uploaded.status not in ("processed", "error"):
        if time.monotonic() > deadline:
            raise ToolkitError(f"file {uploaded.id} was not processed within {timeout:.0f} s")
        time.sleep(poll)
        uploaded = api.files.retrieve(uploaded.id)
    if uploaded.status == "error":
        raise ToolkitError(f"file {uploaded.id} could not be processed: {getattr(uploaded, 'status_details', '')}")
    return uploaded.id


def create_job(api, file_id: str, base_model: str, suffix: str | None, epochs: int | None):
    hyper = {"n_epochs": epochs} if epochs else {}
    kwargs = {
        "training_file": file_id,
        "model": base_model,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
    }
    if suffix:
        kwargs["suffix"] = suffix
    return api.fine_tuning.jobs.create(**kwargs)


def new_events(api, job_id: str, seen: set[str]) -> list:
    page = api.fine_tuning.jobs.list_events(job_id, limit=100)
    fresh = [e for e in page.data if e.id not in seen]
    seen.update(e.id for e in fresh)
    return sorted(fresh, key=lambda e: (e.created_at, e.id))


def follow(api, job_id: str, console: Console, poll: float = 1.0, confirm_cancel: Callable[[], bool] | None = None):
    """Print events until the job ends; Ctrl-C asks whether to cancel the job."""
    seen: set[str] = set()
    job = api.fine_tuning.jobs.retrieve(job_id)
    with console.status(f"{job_id}: {job.status}") as status:
        while True:
            try:
                for event in new_events(api, job_id, seen):
                    console.print(
                        f"  [dim]{time.strftime('%H:%M:%S', time.localtime(event.created_at))}[/dim] {event.message}"
                    )
                job = api.fine_tuning.jobs.retrieve(job_id)
                status.update(f"{job_id}: {job.status}")
                if job.status in TERMINAL:
                    for event in new_events(api, job_id, seen):
                        console.print(f"  {event.message}")
                    return job
                time.sleep(poll)
            except KeyboardInterrupt:
                status.stop()
                if confirm_cancel is None:
                    confirm_cancel = _ask_cancel
                if confirm_cancel():
                    api.fine_tuning.jobs.cancel(job_id)
                    console.print(f"cancel requested for {job_id}")
                    return api.fine_tuning.jobs.retrieve(job_id)
                console.print(f"left {job_id} running; follow it with: llm-finetune status {job_id}")
                raise ToolkitError(
                    "interrupted",
                ) from None


def _ask_cancel() -> bool:
    if not sys.stdin.isatty():
        return False
    return input("Cancel the fine-tuning job? [y/N] ").strip().lower() in ("y", "yes")


def describe(job, console: Console) -> int:
    if job.status == "succeeded":
        console.print(f"[green]succeeded[/green]: job {job.id} trained [bold]{job.fine_tuned_model}[/bold]")
        console.print(f"publish it: llm-finetune publish {job.fine_tuned_model} --alias NAME --routes routes.yaml")
        return 0
    if job.status == "failed":
        error = job.error
        why = getattr(error, "message", None) or "no reason given"
        console.print(f"[red]failed[/red]: job {job.id}: {why}")
        return 1
    if job.status == "cancelled":
        console.print(f"[yellow]cancelled[/yellow]: job {job.id}")
        return 1
    console.print(f"job {job.id}: {job.status}")
    return 0
