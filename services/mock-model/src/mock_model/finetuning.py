"""The fine-tuning API the `openai` SDK calls: files and fine_tuning.jobs, in memory.

A job moves validating_files -> queued -> running -> succeeded, one step per
`ft_step_seconds`, computed from its age whenever it is read (no background tasks). The trained
model id is deterministic (`ft:<base>:mock::<hash of the data and suffix>`), and the mock then
lists and answers that model. A job fails, with an error, when its suffix contains "fail" or
the create request carries `X-Mock-FT-Fail: <message>`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from aiohttp import web

from .errors import InvalidRequest, NotFound
from .keys import SETTINGS

STEPS = ("validating_files", "queued", "running", "succeeded")
TRAINING_STEPS = 4


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class Job:
    id: str
    model: str
    training_file: str
    suffix: str | None
    created: float
    fine_tuned_model_id: str
    fail_message: str | None
    hyperparameters: dict
    method: dict
    cancelled_at: float | None = None
    seed: int = 0
    extra_events: list[dict] = field(default_factory=list)

    def step(self, now: float, step_seconds: float) -> int:
        end = self.cancelled_at if self.cancelled_at is not None else now
        return min(int((end - self.created) / step_seconds), len(STEPS) - 1) if step_seconds > 0 else len(STEPS) - 1

    def status(self, now: float, step_seconds: float) -> str:
        step = self.step(now, step_seconds)
        if self.cancelled_at is not None:
            return "cancelled"
        if self.fail_message and step >= 2:
            return "failed"
        return STEPS[step]

    def as_json(self, now: float, step_seconds: float) -> dict:
        status = self.status(now, step_seconds)
        done = status in ("succeeded", "failed", "cancelled")
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": int(self.created),
            "model": self.model,
            "fine_tuned_model": self.fine_tuned_model_id if status == "succeeded" else None,
            "organization_id": "org-mock",
            "result_files": [],
            "status": status,
            "training_file": self.training_file,
            "validation_file": None,
            "hyperparameters": self.hyperparameters,
            "method": self.method,
            "seed": self.seed,
            "trained_tokens": 1000 if status == "succeeded" else None,
            "finished_at": int(self.created + len(STEPS) * step_seconds) if done else None,
            "error": (
                {"code": "invalid_training_file", "message": self.fail_message, "param": "training_file"}
                if status == "failed"
                else None
            ),
            "suffix": self.suffix,
            "estimated_finish": None,
            "integrations": [],
            "user_provided_suffix": self.suffix,
        }

    def events(self, now: float, step_seconds: float) -> list[dict]:
        status = self.status(now, step_seconds)
        step = self.step(now, step_seconds)
        messages = [("info", "Validating training file: " + self.training_file, 0)]
        if step >= 1:
            messages.append(("info", "Files validated, moving job to queued state", 1))
        if step >= 2 and status != "failed":
            messages.append(("info", "Fine-tuning job started", 2))
            for i in range(1, TRAINING_STEPS + 1):
                messages.append(("metrics", f"Step {i}/{TRAINING_STEPS}: training loss={1.0 / (i + 1):.4f}", 2))
        if status == "failed":
            messages.append(("error", f"Fine-tuning job failed: {self.fail_message}", 2))
        if status == "succeeded":
            messages.append(("info", f"New fine-tuned model created: {self.fine_tuned_model_id}", 3))
            messages.append(("info", "The job has successfully completed", 3))
        if status == "cancelled":
            messages.append(("info", "The job was cancelled", step))
        out = []
        for n, (level, message, at_step) in enumerate(messages):
            out.append(
                {
                    "id": f"ftevent-{self.id[-8:]}-{n:03d}",
                    "object": "fine_tuning.job.event",
                    "created_at": int(self.created + at_step * step_seconds),
                    "level": level,
                    "message": message,
                    "type": "metrics" if level == "metrics" else "message",
                    "data": {},
                }
            )
        return out


class FineTuning:
    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}

    def names(self) -> list[str]:
        return [j.fine_tuned_model_id for j in self.jobs.values() if j.cancelled_at is None and not j.fail_message]


FINETUNING = web.AppKey("finetuning", FineTuning)


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
    if not hasattr(upload, "file"):
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


async def create_job(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    store = request.app[FINETUNING]
    model, training_file = body.get("model"), body.get("training_file")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required", param="model")
    if training_file not in store.files:
        raise InvalidRequest(f"invalid training_file: {training_file}", param="training_file")
    suffix = body.get("suffix")
    method = body.get("method") or {"type": "supervised", "supervised": {"hyperparameters": {}}}
    hyper = dict(
        body.get("hyperparameters") or (method.get(method.get("type", ""), {}) or {}).get("hyperparameters") or {}
    )
    hyper.setdefault("n_epochs", 3)
    hyper.setdefault("batch_size", 1)
    hyper.setdefault("learning_rate_multiplier", 2)
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
        hyper,
        method,
    )
    return web.json_response(_job_json(request, store.jobs[job_id]))


def _job(request: web.Request) -> Job:
    job = request.app[FINETUNING].jobs.get(request.match_info["job_id"])
    if job is None:
        raise NotFound(f"No fine-tuning job {request.match_info['job_id']}", param="fine_tuning_job_id")
    return job


def _step_seconds(request: web.Request) -> float:
    return request.app[SETTINGS].ft_step_seconds


def _job_json(request: web.Request, job: Job) -> dict:
    return job.as_json(time.time(), _step_seconds(request))


async def get_job(request: web.Request) -> web.Response:
    return web.json_response(_job_json(request, _job(request)))


async def list_jobs(request: web.Request) -> web.Response:
    jobs = sorted(request.app[FINETUNING].jobs.values(), key=lambda j: j.created, reverse=True)
    after = request.query.get("after")
    if after:
        ids = [j.id for j in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    limit = int(request.query.get("limit", "20"))
    page = jobs[:limit]
    return web.json_response(
        {"object": "list", "data": [_job_json(request, j) for j in page], "has_more": len(jobs) > limit}
    )


async def cancel_job(request: web.Request) -> web.Response:
    job = _job(request)
    status = job.status(time.time(), _step_seconds(request))
    if status in ("succeeded", "failed", "cancelled"):
        raise InvalidRequest(f"Job {job.id} has already {status}", param="fine_tuning_job_id")
    job.cancelled_at = time.time()
    return web.json_response(_job_json(request, job))


async def list_events(request: web.Request) -> web.Response:
    job = _job(request)
    events = list(reversed(job.events(time.time(), _step_seconds(request))))  # newest first, as OpenAI lists them
    limit = int(request.query.get("limit", "20"))
    return web.json_response({"object": "list", "data": events[:limit], "has_more": len(events) > limit})


def setup(app: web.Application) -> None:
    from .app import FINETUNED_MODELS

    store = FineTuning()
    app[FINETUNING] = store
    app[FINETUNED_MODELS] = store
    app.router.add_post("/v1/files", create_file)
    app.router.add_get("/v1/files/{file_id}", get_file)
    app.router.add_post("/v1/fine_tuning/jobs", create_job)
    app.router.add_get("/v1/fine_tuning/jobs", list_jobs)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}", get_job)
    app.router.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}/events", list_events)
