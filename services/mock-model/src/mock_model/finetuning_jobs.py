"""Fine-tuning files and jobs, in memory, as the `openai` SDK sees them.

A job moves validating_files -> queued -> running -> succeeded, one step per
`ft_step_seconds`, computed from its age whenever it is read (no background tasks). The trained
model id is deterministic (`ft:<base>:mock::<hash of the data and suffix>`), and the mock then
lists and answers that model. A job fails, with an error, when its suffix contains "fail" or
the create request carries `X-Mock-FT-Fail: <message>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STEPS = ("validating_files", "queued", "running", "succeeded")
TRAINING_STEPS = 4


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def as_json(self) -> dict[str, Any]:
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
    hyperparameters: dict[str, Any]
    method: dict[str, Any]
    cancelled_at: float | None = None
    seed: int = 0

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

    def as_json(self, now: float, step_seconds: float) -> dict[str, Any]:
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

    def events(self, now: float, step_seconds: float) -> list[dict[str, Any]]:
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
    """The uploaded files and the jobs, in memory; a job's state is computed from its age."""

    def __init__(self, step_seconds: float) -> None:
        self.step_seconds = step_seconds
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}

    def names(self) -> list[str]:
        return [j.fine_tuned_model_id for j in self.jobs.values() if j.cancelled_at is None and not j.fail_message]
