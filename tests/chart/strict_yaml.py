"""A YAML loader that refuses what Go's yaml.v3 refuses: a key repeated in one mapping.

Helm and PyYAML's SafeLoader keep the last value of a repeated key; skaffold's post-renderer,
kustomize (kyaml) and flux parse with yaml.v3 and refuse the whole document with
`mapping key "..." already defined`. Parsing the chart's output with this loader fails where they do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode


class StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges are not repeated keys
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f'mapping key "{key}" already defined at line {seen[key].line + 1}',
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_all(text: str) -> Iterator[Any]:
    return yaml.load_all(text, Loader=StrictLoader)  # a SafeLoader subclass: safe


def load(text: str) -> Any:
    return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass: safe
