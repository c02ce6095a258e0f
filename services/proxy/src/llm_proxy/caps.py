"""How much one request may ask a model for: choices (`n`, and `best_of` of legacy completions) and
output tokens (`max_tokens`, `max_completion_tokens`, `max_output_tokens`).

Each is paid for upstream, so a request asking for more than the cap is refused with 400 before
anything goes up, and a fallback whose caps the request exceeds is not tried. The caps are the
proxy's settings (`LLM_PROXY_MAX_N`, `LLM_PROXY_MAX_OUTPUT_TOKENS`); a model in the routing table
may set its own: `limits: {max_n: 1, max_output_tokens: 1024}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

N_FIELDS = ("n", "best_of")
TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


@dataclass(frozen=True)
class Caps:
    """A model's own caps (None: the proxy's)."""

    max_n: int | None = None
    max_output_tokens: int | None = None


def parse_caps(value: Any, where: str) -> Caps:
    """`limits:` of a route; ValueError naming the key (never a value) when it is not one."""
    if not isinstance(value, Mapping) or not value or not set(value) <= {"max_n", "max_output_tokens"}:
        raise ValueError(f"{where}: must be a mapping with max_n and/or max_output_tokens")
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"{where}.{key}: must be a whole number, at least 1")
    return Caps(value.get("max_n"), value.get("max_output_tokens"))


class CapExceeded(ValueError):
    """A request field over its cap, or not a whole number; `param` names it."""

    def __init__(self, message: str, param: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class RequestCaps:
    """The proxy-wide caps, and the check of a request body against a model's."""

    max_n: int
    max_output_tokens: int

    def check(self, body: Mapping[str, Any], own: Caps | None, model: str) -> None:
        """Raise CapExceeded when the body asks `model` for more than its caps allow."""
        max_n = own.max_n if own is not None and own.max_n is not None else self.max_n
        max_tokens = (
            own.max_output_tokens if own is not None and own.max_output_tokens is not None else self.max_output_tokens
        )
        for fields, cap in ((N_FIELDS, max_n), (TOKEN_FIELDS, max_tokens)):
            for field in fields:
                value = body.get(field)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise CapExceeded(f"'{field}' must be a whole number, at least 1", field, "invalid_type")
                if value > cap:
                    raise CapExceeded(
                        f"'{field}' is {value}; at most {cap} is accepted for the model '{model}'", field, "over_limit"
                    )

    def allows(self, body: Mapping[str, Any], own: Caps | None, model: str) -> bool:
        try:
            self.check(body, own, model)
        except CapExceeded:
            return False
        return True
