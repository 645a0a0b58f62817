"""Job params from the command line: ``--params-file F`` then ``--param key=value`` on top.

A value is JSON when it parses as JSON (``3``, ``true``, ``null``, ``{"a": 1}``,
``"007"``), else the text itself. A key may be a dotted path (``style.tone=dry``) that
descends into nested objects, creating them. The last ``--param`` for a key wins;
descending into a value that is not an object is an error naming the pair.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

from agnt_cli.errors import CliError, usage_error


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are Python's extensions, not JSON: take them as text.
    raise _NotJson(name)


def parse_param_value(text: str) -> Any:
    """``text`` as a JSON value when it is valid JSON, else ``text`` as a string."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text


def parse_param(pair: str) -> tuple[list[str], Any]:
    """Split ``key=value`` into the key's path and the parsed value.

    Raises a usage error naming ``pair`` when there is no ``=`` or the key (or one of
    its dotted segments) is empty.
    """
    key, sep, value = pair.partition("=")
    if not sep:
        raise _invalid(pair, "expected KEY=VALUE")
    path = key.split(".")
    if any(segment == "" for segment in path):
        raise _invalid(pair, "the key (and each dotted segment of it) must be non-empty")
    return path, parse_param_value(value)


def build_params(pairs: Sequence[str], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply each ``key=value`` pair, in order, onto a copy of ``base``."""
    params: dict[str, Any] = copy.deepcopy(base) if base else {}
    for pair in pairs:
        path, value = parse_param(pair)
        target = params
        for depth, segment in enumerate(path[:-1]):
            child = target.setdefault(segment, {})
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise _invalid(pair, f"{where!r} is already set to a value that is not an object")
            target = child
        target[path[-1]] = value
    return params


def parse_params_document(text: str, source: str) -> dict[str, Any]:
    """The JSON object of a ``--params-file`` (``source`` names it in errors)."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise usage_error(
            f"--params-file {source}: not valid JSON: {exc}", "invalid_params_file"
        ) from exc
    if not isinstance(document, dict):
        raise usage_error(f"--params-file {source}: expected a JSON object", "invalid_params_file")
    return document


def _invalid(pair: str, why: str) -> CliError:
    return usage_error(f"--param {pair!r}: {why}", "invalid_param")
