"""Error messages about configuration files that name where a problem is, never what is there.

Reload errors are logged and counted, and a routing table or a client-keys file holds secrets
(backend keys, client keys). So a message names the key path (`backends.openai.api_key`) and
model or backend names, never a value; a YAML syntax error names its line and column and the
parser's complaint with anything it quoted from the file left out.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# What YAML parsers quote from the file: kept when it is a token (',' '}' '<stream end>'), else cut.
_QUOTED = re.compile(r"'([^']*)'")


def _token_or_cut(match: re.Match[str]) -> str:
    quoted = match.group(1)
    return match.group(0) if len(quoted) <= 1 or (quoted.startswith("<") and quoted.endswith(">")) else "'…'"


# A mapping key a message may show: a word of letters and underscores, as settings are named.
# Anything else (digits, dashes: the shape of a key pasted in the wrong place) is not shown.
_FIELD = re.compile(r"^[A-Za-z][A-Za-z_]{0,23}$")


def field_names(keys: Any) -> str:
    """Unknown mapping keys for a message: `colour, extra`, with any that could be a value left out."""
    shown = sorted({k for k in keys if isinstance(k, str) and _FIELD.match(k)})
    hidden = len(list(keys)) - len(shown)
    return ", ".join([*shown, *([f"{hidden} not shown"] if hidden else [])])


def yaml_problem(exc: yaml.YAMLError) -> str:
    """`not valid YAML (line 3, column 7: mapping values are not allowed here)`, without the file's text."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"
    detail = f": {_QUOTED.sub(_token_or_cut, problem)}" if isinstance(problem, str) else ""
    return f"not valid YAML ({where}{detail})"


def kind(value: Any) -> str:
    """What a value is, for a message that may not show it: `a number`, `a list`, `nothing`..."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "something else"
