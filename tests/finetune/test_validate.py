"""validate: every error kind with its line number, thresholds, statistics and cost."""

import json
import statistics

import pytest

from llm_finetune.cli import main
from llm_finetune.pricing import default_epochs
from llm_finetune.validate import count_tokens, example_tokens, percentile, validate_file

pytestmark = pytest.mark.unit

GOOD = {
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
}


def write(tmp_path, lines, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_the_real_export_is_valid(tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    from llm_finetune.cli import REPO

    assert main(["convert", str(REPO / "finetune/data/candidate.xlsx"), "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert "no format errors" in capsys.readouterr().out


def test_each_error_kind_is_named_with_its_line(tmp_path):
    lines = [GOOD] * 12 + [
        "{not json",  # 13
        {"no_messages": []},  # 14
        {"messages": [{"content": "hi"}, {"role": "assistant", "content": "a"}]},  # 15
        {"messages": [{"role": "user", "content": "q", "colour": "red"}, {"role": "assistant", "content": "a"}]},  # 16
        {"messages": [{"role": "wizard", "content": "q"}, {"role": "assistant", "content": "a"}]},  # 17
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]},  # 18
        {"messages": [{"role": "user", "content": "q"}]},  # 19
        [1, 2],  # 20
    ]
    report = validate_file(write(tmp_path, lines))
    found = {(e.line, e.kind) for e in report.errors}
    assert found >= {
        (13, "invalid_json"),
        (14, "missing_messages_list"),
        (15, "message_missing_key"),
        (16, "message_unrecognized_key"),
        (17, "unrecognized_role"),
        (18, "missing_content"),
        (19, "example_missing_assistant_message"),
        (20, "data_type"),
    }
    assert not report.ok


def test_json_python_refuses_past_the_digit_limit_is_an_error_not_a_crash(tmp_path):
    report = validate_file(write(tmp_path, [GOOD] * 10 + ['{"messages": ' + "1" * 5000 + "}"]))
    assert [(e.line, e.kind) for e in report.errors] == [(11, "invalid_json")]
    assert "digit" in report.errors[0].message


def test_validate_exits_1_on_errors(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, [GOOD] * 12 + ["{bad"]))]) == 1
    assert "line 13: invalid_json" in capsys.readouterr().out


def test_too_few_examples_is_an_error_and_few_a_warning(tmp_path):
    assert [e.kind for e in validate_file(write(tmp_path, [GOOD] * 9)).errors] == ["too_few_examples"]
    report = validate_file(write(tmp_path, [GOOD] * 20, "b.jsonl"))
    assert report.ok and [w.kind for w in report.warnings] == ["few_examples"]
    assert not validate_file(write(tmp_path, [GOOD] * 50, "c.jsonl")).warnings


def test_an_example_over_the_token_limit_is_an_error(tmp_path):
    long = {"messages": [{"role": "user", "content": "word " * 17000}, {"role": "assistant", "content": "a"}]}
    report = validate_file(write(tmp_path, [GOOD] * 11 + [long]))
    assert [(e.line, e.kind) for e in report.errors] == [(12, "example_too_long")]
    assert validate_file(write(tmp_path, [GOOD] * 11 + [long], "b.jsonl"), "gpt-4o-mini-2024-07-18").ok


def test_token_counts_follow_the_guide():
    messages = GOOD["messages"]
    assert example_tokens(messages) == 3 + sum(
        3 + count_tokens(m["role"]) + count_tokens(m["content"]) for m in messages
    )
    assert (
        example_tokens([{"role": "user", "content": "x", "name": "bob"}])
        == 3 + 3 + count_tokens("user") + count_tokens("x") + count_tokens("bob") + 1
    )


@pytest.mark.parametrize("values", [[5], [1, 2], [3, 1, 2], [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 7]])
def test_percentiles_match_the_linear_definition(values):
    assert percentile(values, 0.5) == statistics.median(values)
    qs = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else [values[0]] * 19
    assert percentile(values, 0.05) == pytest.approx(qs[0])
    assert percentile(values, 0.95) == pytest.approx(qs[-1])


def test_epochs_and_cost(tmp_path):
    assert default_epochs(10) == 10 and default_epochs(100) == 3 and default_epochs(20000) == 1
    report = validate_file(write(tmp_path, [GOOD] * 20))
    assert report.epochs == 5
    assert report.billed_tokens == sum(report.tokens) * 5
    assert report.cost_usd == pytest.approx(report.billed_tokens / 1e6 * 8.0)
    assert json.loads(json.dumps(report.as_dict()))["estimated_cost_usd"] >= 0
