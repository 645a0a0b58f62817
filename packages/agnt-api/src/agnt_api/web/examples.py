"""Example inputs an agent publishes in its input schema (JSON Schema ``examples``).

Top-level ``examples`` are whole ``params`` objects; per-property ``examples`` are values of
one field each, combined by position (the first example of every property, then the second,
...). Whole objects come first. The agent page lists them with a "Use this example" link,
``?example=N``, that fills the order form on the server (no JavaScript needed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue

MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 2_000
"""Longer examples are left out: the page stays within its weight budget."""


def schema_examples(input_schema: Mapping[str, Any]) -> list[dict[str, JsonValue]]:
    """The agent's example ``params``, at most ``MAX_EXAMPLES``, each at most
    ``MAX_EXAMPLE_CHARS`` of JSON; an empty list when it publishes none."""
    found: list[dict[str, JsonValue]] = []
    top = input_schema.get("examples")
    if isinstance(top, list):
        found += [example for example in top if isinstance(example, dict)]
    properties = input_schema.get("properties")
    if isinstance(properties, Mapping):
        per_field = {
            name: schema["examples"]
            for name, schema in properties.items()
            if isinstance(schema, Mapping) and isinstance(schema.get("examples"), list)
        }
        count = max((len(values) for values in per_field.values()), default=0)
        for index in range(min(count, MAX_EXAMPLES)):
            found.append(
                {name: values[index] for name, values in per_field.items() if index < len(values)}
            )
    kept = [
        example
        for example in found
        if example and len(json.dumps(example, ensure_ascii=False)) <= MAX_EXAMPLE_CHARS
    ]
    return kept[:MAX_EXAMPLES]
