"""convert and pack: the spreadsheet read with pandas/openpyxl, blank rows, clear errors."""

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from llm_finetune.cli import REPO, main
from llm_finetune.pack import PACKAGED_COPIES, build_pack, dumps
from llm_finetune.spreadsheet import read_sheet

pytestmark = pytest.mark.unit

CANDIDATE = REPO / "finetune" / "data" / "candidate.xlsx"


def workbook(path: Path, header, rows, system="Be helpful.") -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "qa"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    if system is not None:
        book.create_sheet("system").append(["System prompt"])
        book["system"].append([system])
    book.save(path)
    return path


def test_convert_writes_one_chat_example_per_row_and_counts_blanks(tmp_path, capsys):
    xlsx = workbook(
        tmp_path / "d.xlsx", ["Prompt", "Response"], [["Q1?", "A1."], [None, None], [None, None], ["Q2?", "A2."]]
    )
    out = tmp_path / "out.jsonl"
    assert main(["convert", str(xlsx), "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [
        {
            "messages": [
                {"role": "system", "content": "Be helpful."},
                {"role": "user", "content": "Q1?"},
                {"role": "assistant", "content": "A1."},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Be helpful."},
                {"role": "user", "content": "Q2?"},
                {"role": "assistant", "content": "A2."},
            ]
        },
    ]
    assert "skipped 2 blank row(s)" in capsys.readouterr().out


def test_a_missing_column_is_named(tmp_path, capsys):
    xlsx = workbook(tmp_path / "d.xlsx", ["Question", "Response"], [["Q?", "A."]])
    assert main(["convert", str(xlsx), "-o", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "lacks the column(s) Prompt" in err and "Question" in err


def test_a_file_that_is_not_a_workbook_is_a_clear_error(tmp_path, capsys):
    bogus = tmp_path / "notes.xlsx"
    bogus.write_text("just text")
    assert main(["convert", str(bogus), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "cannot be read as an .xlsx workbook" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "absent.xlsx"), "-o", str(tmp_path / "o.jsonl")]) == 2


def test_a_half_filled_row_names_its_line(tmp_path, capsys):
    xlsx = workbook(tmp_path / "d.xlsx", ["Prompt", "Response"], [["Q?", "A."], ["Q without answer", None]])
    assert main(["convert", str(xlsx), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "row 3 has a Prompt but no Response" in capsys.readouterr().err


def test_the_candidate_spreadsheet_has_enough_rows_and_the_seeds_samples():
    sheet = read_sheet(CANDIDATE)
    assert len(sheet.rows) >= 60
    pack = build_pack(sheet)
    assert pack["sample_questions"][:10] == [
        "What is the candidate name?",
        "Tell me fun fact about Louis?",
        "Which university does Louis or Tran Cong Nam Anh or Nam Anh come from ?",
        "How many programming languages has Louis employed in his projects?",
        "Please provide a list of the software development projects Louis completed and detail his roles in each "
        "of these projects.",
        "What were the job responsibilities that Louis undertook during his previous internship at SAP AI Labs "
        "Singapore with the AI Workbench team?",
        "What is his current CGPA as well as his academic achievements?",
        "What sports can Louis play  ?",
        "When is his birthday ?",
        "What is his  favorite football club and his favorite football player?",
    ]
    per_fact = {}
    for row in pack["rows"]:
        per_fact.setdefault(row["fact"], []).append(row)
    assert all(len(rows) >= 3 for rows in per_fact.values()), "each fact is asked several ways"


@pytest.mark.parametrize("copy", PACKAGED_COPIES)
def test_every_packaged_copy_equals_a_fresh_export(copy):
    expected = dumps(build_pack(read_sheet(CANDIDATE)))
    assert (REPO / copy).read_text(encoding="utf-8") == expected, f"run `make knowledge` to refresh {copy}"


def test_pack_refuses_gaps_in_sample_numbers(tmp_path, capsys):
    header = ["Prompt", "Response", "Fact", "Sample"]
    xlsx = workbook(tmp_path / "d.xlsx", header, [["Q1?", "A1.", "a", 1], ["Q3?", "A3.", "b", 3]])
    assert main(["pack", str(xlsx), "-o", str(tmp_path / "k.json")]) == 2
    assert "run 1..N" in capsys.readouterr().err
