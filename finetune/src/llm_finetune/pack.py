"""The knowledge pack: what the proxy and the mock read instead of the spreadsheet."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ToolkitError
from .spreadsheet import Sheet

# Where the services and the chart keep their packaged copy, relative to the repository.
PACKAGED_COPIES = (
    "services/proxy/src/llm_proxy/data/knowledge.json",
    "services/mock-model/src/mock_model/data/knowledge.json",
    "charts/llm-proxy/files/knowledge.json",
)
CANDIDATE = {"full_name": "Tran Cong Nam Anh", "short_name": "Louis"}


def build_pack(sheet: Sheet) -> dict:
    from .validate import count_tokens

    numbered = sorted((r.sample, r.prompt) for r in sheet.rows if r.sample is not None)
    numbers = [n for n, _ in numbered]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ToolkitError(f"sample question numbers must run 1..N without gaps or repeats, got {numbers}")
    return {
        "version": 1,
        "candidate": CANDIDATE,
        "system_prompt": sheet.system_prompt,
        "sample_questions": [q for _, q in numbered],
        # response_tokens: cl100k_base tokens of the whitespace-normalised answer, so the proxy can
        # budget its grounding without loading a tokenizer.
        "rows": [
            {
                "id": f"r{i:03d}",
                "fact": r.fact,
                "prompt": r.prompt,
                "response": r.response,
                "sample": r.sample,
                "response_tokens": count_tokens(" ".join(r.response.split())),
            }
            for i, r in enumerate(sheet.rows, 1)
        ],
    }


def dumps(pack: dict) -> str:
    return json.dumps(pack, ensure_ascii=False, indent=2) + "\n"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a watcher never sees half a file
