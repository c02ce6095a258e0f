"""Read the candidate spreadsheet: sheet `qa` (Prompt, Response, optional Fact, Sample) and the
system prompt from sheet `system` (cell A2), with pandas and openpyxl."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolkitError

REQUIRED = ("Prompt", "Response")
DEFAULT_SYSTEM_PROMPT = "You are an assistant that answers questions about the job candidate."


@dataclass(frozen=True)
class Row:
    line: int  # the spreadsheet row number, as a person sees it
    prompt: str
    response: str
    fact: str
    sample: int | None


@dataclass(frozen=True)
class Sheet:
    system_prompt: str
    rows: list[Row]
    skipped_blank: int


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "fact"


def _clean(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return "" if text.lower() == "nan" else text.strip()  # inner spacing is the author's: keep it


def read_sheet(path: Path) -> Sheet:
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ToolkitError(f"{path}: no such file")
    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", dtype=object)
    except Exception as exc:  # openpyxl raises several kinds for a file that is not a workbook
        raise ToolkitError(f"{path}: cannot be read as an .xlsx workbook ({type(exc).__name__}: {exc})") from None
    qa_name = "qa" if "qa" in sheets else next(iter(sheets))
    frame = sheets[qa_name]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ToolkitError(
            f"{path}: sheet '{qa_name}' lacks the column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    system_prompt = DEFAULT_SYSTEM_PROMPT
    if "system" in sheets and len(sheets["system"].index) and len(sheets["system"].columns):
        system_prompt = _clean(sheets["system"].iloc[0, 0]) or DEFAULT_SYSTEM_PROMPT
    rows, blank = [], 0
    for position, (_, record) in enumerate(frame.iterrows()):
        line = position + 2  # header is row 1
        prompt, response = _clean(record.get("Prompt")), _clean(record.get("Response"))
        if not prompt and not response:
            blank += 1
            continue
        if not prompt or not response:
            raise ToolkitError(
                f"{path}: row {line} has a {'Prompt' if prompt else 'Response'} "
                f"but no {'Response' if prompt else 'Prompt'}"
            )
        fact = _clean(record.get("Fact")) or _slug(prompt)
        sample_raw = record.get("Sample")
        sample = None
        if sample_raw is not None and _clean(sample_raw):
            try:
                sample = int(float(sample_raw))
            except (TypeError, ValueError):
                raise ToolkitError(f"{path}: row {line}: Sample must be a whole number, got {sample_raw!r}") from None
        rows.append(Row(line, prompt, response, fact, sample))
    if not rows:
        raise ToolkitError(f"{path}: sheet '{qa_name}' has no rows with a Prompt and a Response")
    return Sheet(system_prompt, rows, blank)
