"""Build finetune/data/candidate.xlsx from candidate_rows.yaml (how the first version was made).

Usage: python finetune/scripts/build_candidate_xlsx.py [OUT.xlsx]
"""

import sys
from pathlib import Path

import yaml
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

HERE = Path(__file__).resolve().parent.parent / "data"


def build(out: Path) -> None:
    source = yaml.safe_load((HERE / "candidate_rows.yaml").read_text(encoding="utf-8"))
    book = Workbook()
    qa = book.active
    qa.title = "qa"
    qa.append(["Prompt", "Response", "Fact", "Sample"])
    for slug, fact in source["facts"].items():
        answer = " ".join(fact["answer"].split())
        for question in fact["questions"]:
            qa.append([question["q"], answer, slug, question.get("sample")])
    for cell in qa[1]:
        cell.font = Font(bold=True)
    qa.column_dimensions["A"].width = 60
    qa.column_dimensions["B"].width = 100
    qa.column_dimensions["C"].width = 18
    for row in qa.iter_rows(min_row=2):
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
    system = book.create_sheet("system")
    system.append(["System prompt"])
    system.append([" ".join(source["system_prompt"].split())])
    system["A1"].font = Font(bold=True)
    system.column_dimensions["A"].width = 120
    book.properties.creator = "llm-finetune"
    book.save(out)


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "candidate.xlsx")
