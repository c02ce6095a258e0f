"""The fine-tuning API the `openai` SDK calls (`/v1/files`, `/v1/fine_tuning/jobs...`), in memory.

The jobs themselves, their states and the trained model ids are in finetuning_jobs.py.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from aiohttp import web

from .errors import InvalidRequest, NotFound
from .finetuning_jobs import Job, StoredFile
from .state import FINETUNING


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
    return h.hexdigest()


async def create_file(request: web.Request) -> web.Response:
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("upload the file as multipart/form-data with fields 'file' and 'purpose'", param="file")
    form = await request.post()
    upload, purpose = form.get("file"), form.get("purpose")
    if not isinstance(upload, web.FileField):
        raise InvalidRequest("the 'file' field is required", param="file")
    if purpose != "fine-tune":
        raise InvalidRequest(f"purpose must be 'fine-tune' here, got {purpose!r}", param="purpose")
    content = upload.file.read()
    store = request.app[FINETUNING]
    file_id = "file-" + _digest(content)[:24]
    store.files[file_id] = StoredFile(file_id, upload.filename or "upload.jsonl", purpose, content, int(time.time()))
    return web.json_response(store.files[file_id].as_json())


async def get_file(request: web.Request) -> web.Response:
    stored = request.app[FINETUNING].files.get(request.match_info["file_id"])
    if stored is None:
        raise NotFound(f"No such File object: {request.match_info['file_id']}", param="id")
    return web.json_response(stored.as_json())


def _hyperparameters(body: dict[str, Any], method: dict[str, Any]) -> dict[str, Any]:
    given = body.get("hyperparameters")
    if not given:
        # The `method` form nests them: {"type": "supervised", "supervised": {"hyperparameters": {...}}}.
        by_method = method.get(str(method.get("type", "")))
        given = by_method.get("hyperparameters") if isinstance(by_method, dict) else None
    hyper = dict(given) if isinstance(given, dict) else {}
    hyper.setdefault("n_epochs", 3)
    hyper.setdefault("batch_size", 1)
    hyper.setdefault("learning_rate_multiplier", 2)
    return hyper


async def create_job(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    store = request.app[FINETUNING]
    model, training_file = body.get("model"), body.get("training_file")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required", param="model")
    if not isinstance(training_file, str) or training_file not in store.files:
        raise InvalidRequest(f"invalid training_file: {training_file}", param="training_file")
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise InvalidRequest("'suffix' must be a string", param="suffix")
    method = body.get("method") or {"type": "supervised", "supervised": {"hyperparameters": {}}}
    if not isinstance(method, dict):
        raise InvalidRequest("'method' must be an object", param="method")
    fail = request.headers.get("X-Mock-FT-Fail") or (
        "the mock was asked to fail this job" if suffix and "fail" in suffix else None
    )
    digest = _digest(store.files[training_file].content, suffix or "", model)
    job_id = "ftjob-" + _digest(digest, str(len(store.jobs)))[:24]
    base = model.split(":")[0]
    store.jobs[job_id] = Job(
        job_id,
        model,
        training_file,
        suffix,
        time.time(),
        f"ft:{base}:mock:{suffix or ''}:{digest[:8]}",
        fail,
        _hyperparameters(body, method),
        method,
    )
    return web.json_response(_job_json(request, store.jobs[job_id]))


def _job(request: web.Request) -> Job:
    job = request.app[FINETUNING].jobs.get(request.match_info["job_id"])
    if job is None:
        raise NotFound(f"No fine-tuning job {request.match_info['job_id']}", param="fine_tuning_job_id")
    return job


def _job_json(request: web.Request, job: Job) -> dict[str, Any]:
    return job.as_json(time.time(), request.app[FINETUNING].step_seconds)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "20")
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidRequest(f"'limit' must be a positive integer, got {raw!r}", param="limit")
    return int(raw)


async def get_job(request: web.Request) -> web.Response:
    return web.json_response(_job_json(request, _job(request)))


async def list_jobs(request: web.Request) -> web.Response:
    jobs = sorted(request.app[FINETUNING].jobs.values(), key=lambda j: j.created, reverse=True)
    after = request.query.get("after")
    if after:
        ids = [j.id for j in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    limit = _limit(request)
    page = jobs[:limit]
    return web.json_response(
        {"object": "list", "data": [_job_json(request, j) for j in page], "has_more": len(jobs) > limit}
    )


async def cancel_job(request: web.Request) -> web.Response:
    job = _job(request)
    status = job.status(time.time(), request.app[FINETUNING].step_seconds)
    if status in ("succeeded", "failed", "cancelled"):
        raise InvalidRequest(f"Job {job.id} has already {status}", param="fine_tuning_job_id")
    job.cancelled_at = time.time()
    return web.json_response(_job_json(request, job))


async def list_events(request: web.Request) -> web.Response:
    job = _job(request)
    # Newest first, as OpenAI lists them.
    events = list(reversed(job.events(time.time(), request.app[FINETUNING].step_seconds)))
    limit = _limit(request)
    return web.json_response({"object": "list", "data": events[:limit], "has_more": len(events) > limit})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/files", create_file)
    app.router.add_get("/v1/files/{file_id}", get_file)
    app.router.add_post("/v1/fine_tuning/jobs", create_job)
    app.router.add_get("/v1/fine_tuning/jobs", list_jobs)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}", get_job)
    app.router.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}/events", list_events)
