"""Copy the schemas the conformance tests need out of OpenAI's OpenAPI document, verbatim.

    python tests/openapi/extract_subset.py PATH/TO/openapi.json --commit SHA

PATH/TO/openapi.json is `openapi.json` of https://github.com/openai/openai-openapi at commit SHA.
The roots below and every schema they reach through `$ref` are written to
openai-openapi.subset.json, unchanged; the test helper (tests/fixtures/openapi.py) applies the
corrections README.md lists when it loads them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUBSET = HERE / "openai-openapi.subset.json"
ROOTS = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateCompletionResponse",
    "CreateEmbeddingResponse",
    "ListModelsResponse",
    "Model",
    "ErrorResponse",
    "Response",
    "ResponseCreatedEvent",
    "ResponseInProgressEvent",
    "ResponseOutputItemAddedEvent",
    "ResponseContentPartAddedEvent",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
    "ResponseContentPartDoneEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseCompletedEvent",
    "ResponseIncompleteEvent",
    "ResponseFailedEvent",
    "ResponseErrorEvent",
)
PREFIX = "#/components/schemas/"


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            found.add(ref[len(PREFIX) :])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> list[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(schemas[name]) - seen)
    return sorted(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openapi", type=Path, help="openapi.json of openai/openai-openapi")
    parser.add_argument("--commit", required=True, help="the commit it comes from")
    args = parser.parse_args()
    document = json.loads(args.openapi.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    subset = {
        "openapi": document["openapi"],
        "info": {
            "title": f"{document['info']['title']} (the schemas llm-proxy's tests use)",
            "version": document["info"]["version"],
            "x-source": {
                "repository": "https://github.com/openai/openai-openapi",
                "commit": args.commit,
                "file": "openapi.json",
                "roots": list(ROOTS),
            },
        },
        "components": {"schemas": {name: schemas[name] for name in closure(schemas, ROOTS)}},
    }
    SUBSET.write_text(json.dumps(subset, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{SUBSET.name}: {len(subset['components']['schemas'])} schemas from {args.commit}")


if __name__ == "__main__":
    main()
