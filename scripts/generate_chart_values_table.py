"""Generate the values table of charts/llm-proxy/README.md from the `# --` comments in values.yaml.

A comment starting `# --` (continued by the `#` lines right below it) documents the key on the
next line, in the style of helm-docs. The table goes between the README's
`<!-- values-table -->` and `<!-- /values-table -->` markers.

Usage: python scripts/generate_chart_values_table.py [--check | --write]
  (no flag: print the table; --check: exit 1 when the README is not current; --write: update it)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "llm-proxy"
START, END = "<!-- values-table -->", "<!-- /values-table -->"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-]+):(?:\s|$)")
MAX_DEFAULT = 60  # longer defaults are shown as "see values.yaml"


@dataclass
class Entry:
    key: str
    default: object
    description: str


def entries(values_text: str) -> list[Entry]:
    """Every documented key, in file order, with its default from the parsed file."""
    values = yaml.safe_load(values_text)
    found: list[Entry] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    doc: list[str] | None = None
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            doc = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if doc is not None:
                doc.append(stripped[1:].strip())
            continue
        match = KEY.match(line)
        if not match:
            if stripped:  # a list item or flow continuation: not a key
                doc = None
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [match["key"]]
        stack.append((indent, match["key"]))
        if doc is not None:
            found.append(Entry(".".join(path), lookup(values, path), " ".join(doc)))
            doc = None
    return found


def lookup(values: object, path: list[str]) -> object:
    for key in path:
        assert isinstance(values, dict), path
        values = values[key]
    return values


def leaf_keys(values: object, prefix: str = "") -> list[str]:
    """Every key whose value is not a non-empty mapping (those are what users set)."""
    if not isinstance(values, dict) or not values:
        return [prefix]
    keys = []
    for key, value in values.items():
        keys += leaf_keys(value, f"{prefix}.{key}" if prefix else str(key))
    return keys


def undocumented(values_text: str) -> list[str]:
    """Leaf keys with no documented key at or above them."""
    documented = {e.key for e in entries(values_text)}
    missing = []
    for key in leaf_keys(yaml.safe_load(values_text)):
        parts = key.split(".")
        if not any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)):
            missing.append(key)
    return missing


def show(default: object) -> str:
    text = json.dumps(default, separators=(", ", ": "))
    if len(text) > MAX_DEFAULT:
        return "see values.yaml"
    return f"`{text}`".replace("|", "\\|")


def table(values_text: str) -> str:
    rows = ["| key | default | description |", "|---|---|---|"]
    for e in entries(values_text):
        description = e.description.replace("|", "\\|")
        rows.append(f"| `{e.key}` | {show(e.default)} | {description} |")
    return "\n".join(rows) + "\n"


def render_readme(readme: str, values_text: str) -> str:
    start, end = readme.index(START) + len(START), readme.index(END)
    return readme[:start] + "\n" + table(values_text) + readme[end:]


def main(argv: list[str]) -> int:
    values_text = (CHART / "values.yaml").read_text()
    readme_path = CHART / "README.md"
    if not argv:
        sys.stdout.write(table(values_text))
        return 0
    current = readme_path.read_text()
    wanted = render_readme(current, values_text)
    if argv == ["--check"]:
        if current != wanted:
            print(
                "charts/llm-proxy/README.md is not current: run python scripts/generate_chart_values_table.py --write"
            )
            return 1
        return 0
    if argv == ["--write"]:
        readme_path.write_text(wanted)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
