"""Settings as typed, frozen dataclasses with documented defaults, loaded in one place.

Precedence: command-line flag > environment variable (PREFIX + NAME in capitals) > settings file
(YAML, the field names as keys) > the default.

Each field is declared with `setting(default, "what it means", minimum=..., maximum=...)`. Values
are converted from the field's annotation: `str`, `int`, `float`, `bool`, `Path`,
`tuple[str, ...]` (comma-separated), `Literal[...]` (one of the choices) and `X | None` (an empty
value means None). A value that does not convert, or lies out of bounds, is refused with the name
it came under, so an operator sees which variable to fix:

    LLM_PROXY_PORT: expected a whole number, got 'eighty'
    LLM_PROXY_LOG_REQUESTS: expected true or false, got 'maybe'

`describe()` lists every setting for documentation (docs/configuration.md is generated from it).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A setting is unknown, ill-typed or out of bounds; the message names where it came from."""


def setting(default: Any, help: str, *, minimum: float | None = None, maximum: float | None = None) -> Any:
    """A settings field: its default, what it means (documentation), and optional inclusive bounds."""
    return dataclasses.field(default=default, metadata={"help": help, "minimum": minimum, "maximum": maximum})


@dataclass(frozen=True)
class SettingInfo:
    """One setting, as documentation shows it."""

    name: str
    env: str
    type: str
    default: str
    help: str


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(kind: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0], True
    return kind, False


def _type_name(kind: Any) -> str:
    inner, optional = _optional(kind)
    if typing.get_origin(inner) is typing.Literal:
        name = " \\| ".join(str(c) for c in typing.get_args(inner))
    elif typing.get_origin(inner) is tuple:
        name = "list (comma-separated)"
    else:
        name = {str: "text", int: "whole number", float: "number", bool: "true/false", Path: "path"}.get(
            inner, getattr(inner, "__name__", str(inner))
        )
    return f"{name}, optional" if optional else name


def _convert(kind: Any, raw: Any, where: str) -> Any:
    """`raw` (a string from a flag or the environment, or a YAML value) as a value of `kind`."""
    inner, optional = _optional(kind)
    if optional and (raw is None or (isinstance(raw, str) and not raw.strip())):
        return None
    if typing.get_origin(inner) is typing.Literal:
        choices = typing.get_args(inner)
        if isinstance(raw, str):  # `info` means INFO: choices are matched regardless of case
            for choice in choices:
                if isinstance(choice, str) and choice.lower() == raw.strip().lower():
                    return choice
        elif raw in choices:
            return raw
        raise SettingsError(f"{where}: expected one of {', '.join(map(str, choices))}, got {raw!r}")
    if inner is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower() if isinstance(raw, (str, int)) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SettingsError(f"{where}: expected true or false, got {raw!r}")
    if inner is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise SettingsError(f"{where}: expected a whole number, got {raw!r}")
    if inner is float:
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw.strip()) if isinstance(raw, str) else float(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise SettingsError(f"{where}: expected a finite number, got {raw!r}")
        return value
    if inner is Path:
        if not isinstance(raw, str) or not raw.strip():
            raise SettingsError(f"{where}: expected a path, got {raw!r}")
        return Path(raw.strip())
    if typing.get_origin(inner) is tuple:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise SettingsError(f"{where}: expected a comma-separated list, got {raw!r}")
        return tuple(i.strip() for i in items if i.strip())
    if inner is str:
        if not isinstance(raw, str):
            raise SettingsError(f"{where}: expected text, got {raw!r}")
        return raw
    raise TypeError(f"{where}: settings of type {kind!r} are not supported")


def _check_bounds(field: dataclasses.Field[Any], value: Any, where: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    low, high = field.metadata.get("minimum"), field.metadata.get("maximum")
    if low is not None and value < low:
        raise SettingsError(f"{where}: must be at least {low:g}, got {value!r}")
    if high is not None and value > high:
        raise SettingsError(f"{where}: must be at most {high:g}, got {value!r}")


def load(
    cls: type[T],
    prefix: str,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> T:
    """Settings of type `cls` from flags (`{"port": "8080"}`; None means not given), the
    environment (`PREFIX + NAME`) and a YAML settings file, over the defaults."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = _hints(cls)
    values: dict[str, Any] = {}

    def put(name: str, raw: Any, where: str) -> None:
        value = _convert(hints[name], raw, where)
        _check_bounds(fields[name], value, where)
        values[name] = value

    if config_file is not None:
        try:
            doc = yaml.safe_load(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{config_file}: cannot read the settings file: {exc}") from None
        doc = doc or {}
        if not isinstance(doc, dict):
            raise SettingsError(f"{config_file}: a settings file must be a mapping of setting names to values")
        for name, raw in doc.items():
            if name not in fields:
                raise SettingsError(f"{config_file}: unknown setting {name!r} (known: {', '.join(fields)})")
            put(name, raw, f"{config_file}: {name}")
    for name in fields:
        env = prefix + name.upper()
        if env in environ:
            put(name, environ[env], env)
    for name, raw in (flags or {}).items():
        if raw is not None:
            put(name, raw, "--" + name.replace("_", "-"))
    try:
        return cls(**values)
    except SettingsError:
        raise
    except (TypeError, ValueError) as exc:  # a cross-field check in the class's __post_init__
        raise SettingsError(str(exc)) from None


def from_command_line(
    cls: type[T],
    prefix: str,
    parser: argparse.ArgumentParser,
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Settings from a service's command line: `parser` defines a flag per setting it exposes
    (`--name` for field `name`, default None); `--config FILE` is added here and names the
    settings file, else `PREFIX` + `CONFIG` in the environment does. A bad value exits with the
    parser's usage error naming the flag or variable."""
    parser.add_argument("--config", type=Path, help=f"settings file (YAML; env {prefix}CONFIG)")
    flags = vars(parser.parse_args(argv))
    config_file: Path | None = flags.pop("config")
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(prefix + "CONFIG"):
        config_file = Path(environ[prefix + "CONFIG"])
    try:
        return load(cls, prefix, flags=flags, environ=environ, config_file=config_file)
    except SettingsError as exc:
        parser.error(str(exc))


def describe(cls: type[Any], prefix: str) -> list[SettingInfo]:
    """Every setting of `cls`, in declaration order, for documentation."""
    hints = _hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        default = field.default
        if isinstance(default, tuple):
            shown = ",".join(default)
        elif default is None:
            shown = "(none)"
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = str(default)
        out.append(
            SettingInfo(
                field.name,
                prefix + field.name.upper(),
                _type_name(hints[field.name]),
                shown,
                str(field.metadata.get("help", "")),
            )
        )
    return out


def markdown_table(cls: type[Any], prefix: str) -> str:
    """The settings of `cls` as a Markdown table (environment variable, type, default, meaning)."""
    rows = ["| environment variable | type | default | meaning |", "|---|---|---|---|"]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for info in describe(cls, prefix):
        default = f"`{info.default}`" if info.default else '`""`'
        low, high = (fields[info.name].metadata.get(k) for k in ("minimum", "maximum"))
        bounds = f"{low:g} to {high:g}" if low is not None and high is not None else None
        bounds = bounds or (f"at least {low:g}" if low is not None else f"at most {high:g}" if high is not None else "")
        help = f"{info.help} ({bounds})" if bounds else info.help
        rows.append(f"| `{info.env}` | {info.type} | {default} | {help} |")
    return "\n".join(rows) + "\n"
