"""The candidate knowledge pack as the proxy holds it: parsed, checked, with its grounder built once.

The pack is exported from the candidate spreadsheet by `llm-finetune pack`; the chart mounts it
from a ConfigMap next to the routing table and the proxy reloads it the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .grounding import Grounder, GroundingConfig

PACKAGED = "data/knowledge.json"


class KnowledgeError(ValueError):
    """The pack file cannot be used; the message names the key and the problem."""


@dataclass(frozen=True)
class KnowledgePack:
    system_prompt: str
    sample_questions: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    grounder: Grounder

    @property
    def facts(self) -> int:
        return len(self.grounder.facts)


def parse_knowledge(text: str, config: GroundingConfig = GroundingConfig()) -> KnowledgePack:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KnowledgeError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise KnowledgeError("the pack must be a JSON object")
    system_prompt = data.get("system_prompt")
    if not isinstance(system_prompt, str) or not system_prompt.strip():
        raise KnowledgeError("system_prompt: must be a non-empty string")
    samples = data.get("sample_questions")
    if not isinstance(samples, list) or not all(isinstance(q, str) and q.strip() for q in samples):
        raise KnowledgeError("sample_questions: must be a list of non-empty strings")
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise KnowledgeError("rows: must be a non-empty list")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise KnowledgeError(f"rows[{i}]: must be an object")
        for key in ("prompt", "response", "fact"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise KnowledgeError(f"rows[{i}].{key}: must be a non-empty string")
    return KnowledgePack(
        system_prompt=system_prompt,
        sample_questions=tuple(samples),
        rows=tuple(rows),
        grounder=Grounder(data, None, config),
    )


def load_knowledge(path: Path | None, config: GroundingConfig = GroundingConfig()) -> KnowledgePack:
    """Read the pack at `path`, or the copy packaged with the proxy when no path is given."""
    if path is None:
        text = resources.files("llm_proxy").joinpath(PACKAGED).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_knowledge(text, config)
