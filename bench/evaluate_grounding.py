"""Measure grounding over the knowledge pack's own questions.

For every row of the pack, ask its prompt, and record
- whether a row holding the answer (same `fact`) is in the chosen context (recall), and
- the prompt tokens sent (grounded system message + question) against the seed's prompt, which
  carried the system prompt and every row of the dataset with every question.

Run: .venv/bin/python bench/evaluate_grounding.py [--knowledge FILE] [--json]
Goal (issue 4): tokens <= 30% of the seed's, answer row in context >= 95% of the time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from importlib import resources
from pathlib import Path

from llm_finetune.validate import count_tokens  # real cl100k_base counts (offline)
from llm_proxy.grounding import Grounder, GroundingConfig


def evaluate(pack: dict, config: GroundingConfig = GroundingConfig()) -> dict:
    grounder = Grounder(pack, count_tokens, config)
    seed_prompt = grounder.seed_style_prompt()
    seed_tokens = count_tokens(seed_prompt)
    # A fairer baseline too: every distinct fact once (what a careful send-everything would send).
    facts_once = count_tokens(grounder.system_prompt + "\n\n" + "\n\n".join(f.answer for f in grounder.facts))
    hits, ratios, sent, misses = 0, [], [], []
    rows = pack["rows"]
    for row in rows:
        grounding = grounder.ground(row["prompt"])
        tokens = count_tokens(grounding.system_message) + count_tokens(row["prompt"])
        baseline = seed_tokens + count_tokens(row["prompt"])
        sent.append(tokens)
        ratios.append(tokens / baseline)
        if row["fact"] in grounding.fact_slugs:
            hits += 1
        else:
            misses.append({"prompt": row["prompt"], "fact": row["fact"], "got": grounding.fact_slugs})
    return {
        "questions": len(rows),
        "facts": len(grounder.facts),
        "answer_in_context": hits / len(rows),
        "seed_prompt_tokens": seed_tokens,
        "every_fact_once_tokens": facts_once,
        "mean_tokens_sent": statistics.fmean(sent),
        "max_tokens_sent": max(sent),
        "mean_ratio_to_seed": statistics.fmean(ratios),
        "max_ratio_to_seed": max(ratios),
        "misses": misses,
        "config": config.__dict__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, help="knowledge pack (default: the packaged one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.knowledge:
        text = args.knowledge.read_text(encoding="utf-8")
    else:
        text = resources.files("llm_proxy").joinpath("data/knowledge.json").read_text(encoding="utf-8")
    result = evaluate(json.loads(text))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"questions asked            {result['questions']} ({result['facts']} facts)")
    print(f"answer row in context      {result['answer_in_context']:.1%}")
    print(f"seed prompt (every row)    {result['seed_prompt_tokens']} tokens")
    print(f"every fact once            {result['every_fact_once_tokens']} tokens")
    print(f"grounded prompt, mean/max  {result['mean_tokens_sent']:.0f} / {result['max_tokens_sent']} tokens")
    print(f"share of seed tokens       mean {result['mean_ratio_to_seed']:.1%}, max {result['max_ratio_to_seed']:.1%}")
    for miss in result["misses"]:
        print(f"  miss: {miss['prompt']!r} (fact {miss['fact']}) -> {miss['got']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
