"""What an answer costs: USD per million input and output tokens, per model.

The packaged table (data/prices.yaml) covers every model the default routes name, fine-tuned
`ft:` models at their fine-tuned rates; a route's `price:` in routes.yaml wins over it. Costs are
kept as whole nano-dollars (1e-9 USD), so sums over replicas and days are exact.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("llm_proxy.prices")
PACKAGED_PRICES = Path(__file__).parent / "data" / "prices.yaml"
NANO_PER_USD = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def nano_usd(self, input_tokens: int, output_tokens: int) -> int:
        """The cost of this many tokens in nano-dollars (USD per million tokens = nano-USD per token / 1000)."""
        return round(input_tokens * self.input_per_mtok * 1000 + output_tokens * self.output_per_mtok * 1000)


FREE = Price(0.0, 0.0)


def parse_price(value: Any, where: str) -> Price:
    """A `{input_per_mtok, output_per_mtok}` mapping; ValueError naming `where` otherwise."""
    if not isinstance(value, Mapping) or set(value) != {"input_per_mtok", "output_per_mtok"}:
        raise ValueError(f"{where}: must be a mapping with input_per_mtok and output_per_mtok (USD per million tokens)")
    numbers = []
    for key in ("input_per_mtok", "output_per_mtok"):
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number < 1_000_000:
            raise ValueError(f"{where}.{key}: must be a number of USD per million tokens, 0 or more, got {number!r}")
        numbers.append(float(number))
    return Price(*numbers)


def _lookup(table: Mapping[str, Price], model: str) -> Price | None:
    """Exact name, else the longest entry the name starts with followed by '-' (a dated version)."""
    price = table.get(model)
    if price is not None:
        return price
    best = ""
    for name in table:
        if model.startswith(name + "-") and len(name) > len(best):
            best = name
    return table[best] if best else None


class PriceTable:
    def __init__(self, models: Mapping[str, Price], fine_tuned: Mapping[str, Price]) -> None:
        self.models = dict(models)
        self.fine_tuned = dict(fine_tuned)
        self._unpriced_logged: set[str] = set()

    @classmethod
    def packaged(cls, path: Path = PACKAGED_PRICES) -> PriceTable:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            {name: parse_price(v, f"{path}: models.{name}") for name, v in doc["models"].items()},
            {name: parse_price(v, f"{path}: fine_tuned.{name}") for name, v in doc["fine_tuned"].items()},
        )

    def price(self, upstream_model: str, route_price: Price | None = None, group: str = "") -> Price | None:
        """The price of a route's answers; None when nothing names one."""
        if route_price is not None:
            return route_price
        if group == "mock":
            return FREE
        if upstream_model.startswith("ft:"):
            base = upstream_model.split(":")[1] if upstream_model.count(":") >= 1 else ""
            return _lookup(self.fine_tuned, base)
        return _lookup(self.models, upstream_model)

    def cost(
        self, route_name: str, upstream_model: str, route_price: Price | None, group: str, tokens: tuple[int, int]
    ) -> int:
        """Nano-dollars for (input, output) tokens of a route's answer; 0 (logged once) if unpriced."""
        price = self.price(upstream_model, route_price, group)
        if price is None:
            if route_name not in self._unpriced_logged:
                self._unpriced_logged.add(route_name)
                log.warning(
                    "no price for model %r (upstream %r): its tokens are counted, its cost as 0 "
                    "(set `price: {input_per_mtok, output_per_mtok}` on its route)",
                    route_name,
                    upstream_model,
                )
            return 0
        return price.nano_usd(*tokens)
