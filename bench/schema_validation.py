"""Params validation time: the demo agents' schemas and 10 hostile ones, old vs new validator.

"old" is ``jsonschema`` as the API used it before issue 13 (``validator_for`` with its format
checker, every error collected); "new" is ``agnt_api.services.schemas``: the static checks a
schema passes at publish (refs, size), then ``jsonschema-rs`` with the linear regex engine
and the params limits. Both run in this process, on the same inputs, one after the other;
a case the new code refuses at publish shows the time of that refusal. Times are the median
of repeated runs (one run when a run takes over a second). No network: the remote-ref case
points at a closed loopback port, and the new code never tries it.

    uv run python bench/schema_validation.py [--quick] [--no-record]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
from harness import markdown_table, report

from agnt_api.errors import ApiError
from agnt_api.services.schemas import ParamsLimits, check_schema, validate_params
from agnt_api.settings import Settings
from agnt_executor.demo import manifest_path

BUDGET_SECONDS = 0.3
MAX_RUNS = 200


@dataclass(frozen=True)
class Case:
    """One schema and one params object to validate."""

    label: str
    schema: dict[str, Any]
    params: dict[str, Any]


def old_validate(schema: dict[str, Any], params: dict[str, Any]) -> str:
    """The validator before issue 13: ``jsonschema`` collecting and sorting every error."""
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    failures = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    return f"422 ({len(failures)} errors)" if failures else "valid"


def new_validate(limits: ParamsLimits) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    """The validator after issue 13: publish checks, then params checks."""

    def run(schema: dict[str, Any], params: dict[str, Any]) -> str:
        try:
            check_schema("input_schema", schema)
        except ApiError as exc:
            return f"refused at publish ({exc.errors[0].loc if exc.errors else ''})"
        try:
            validate_params(schema, params, limits)
        except ApiError as exc:
            return f"{exc.code.http_status} ({len(exc.errors or [])} errors)"
        return "valid"

    return run


def timed(run: Callable[[dict[str, Any], dict[str, Any]], str], case: Case) -> tuple[float, str]:
    """Median milliseconds of ``run`` on ``case`` and its outcome (or the exception's name)."""
    samples: list[float] = []
    spent = 0.0
    outcome = ""
    while spent < BUDGET_SECONDS and len(samples) < MAX_RUNS:
        started = time.perf_counter()
        try:
            outcome = run(case.schema, case.params)
        except Exception as exc:  # the old validator's failures are part of what is measured
            outcome = f"error: {type(exc).__name__}"
        elapsed = time.perf_counter() - started
        samples.append(elapsed * 1000)
        spent += elapsed
        if elapsed > 1.0:
            break
    return statistics.median(samples), outcome


def demo_cases() -> list[Case]:
    """Each demo agent's input schema, with valid params and with wrong ones."""
    manifest = tomllib.loads(manifest_path().read_text())
    cases: list[Case] = []
    for agent in manifest["agents"]:
        schema = agent["input_schema"]
        valid = {
            name: spec.get("default", 1) for name, spec in schema.get("properties", {}).items()
        }
        wrong = dict.fromkeys(schema.get("properties", {}), "wrong") | {"extra": 1}
        cases.append(Case(f"demo {agent['id']}, valid", schema, valid))
        cases.append(Case(f"demo {agent['id']}, invalid", schema, wrong))
    return cases


def hostile_cases(quick: bool) -> list[Case]:
    """Ten schemas or params an attacker would send (sizes kept where the old code finishes)."""
    redos_length = 20 if quick else 23
    unique_rows = 500 if quick else 1_500
    redos = "^(a+)+$"
    nested_any: dict[str, Any] = {
        "anyOf": [
            {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
            {"type": "object", "properties": {"a": {"$ref": "#"}}, "minProperties": 1},
            {"const": "end"},
        ]
    }
    depth = 7 if quick else 9
    deep: Any = "x"
    for _ in range(depth):
        deep = {"a": deep}
    return [
        Case(
            f"pattern ^(a+)+$, {redos_length} a's + !",
            {"properties": {"x": {"type": "string", "pattern": redos}}},
            {"x": "a" * redos_length + "!"},
        ),
        Case(
            f"patternProperties ^(a+)+$, {redos_length} a's + !",
            {"patternProperties": {redos: {"type": "integer"}}},
            {"a" * redos_length + "!": 1},
        ),
        Case(
            f"uniqueItems, {unique_rows} objects",
            {"properties": {"rows": {"type": "array", "uniqueItems": True}}},
            {"rows": [{"id": index, "tag": "t"} for index in range(unique_rows)]},
        ),
        Case(
            "uniqueItems, 15,000 strings",
            {"properties": {"rows": {"type": "array", "uniqueItems": True}}},
            {"rows": [f"s{index}" for index in range(15_000)]},
        ),
        Case(
            "$ref to http://127.0.0.1:9 (closed)",
            {"properties": {"x": {"$ref": "http://127.0.0.1:9/x.json"}}},
            {"x": 1},
        ),
        Case(
            "$ref to file:///etc/hostname",
            {"properties": {"x": {"$ref": "file:///etc/hostname"}}},
            {"x": 1},
        ),
        Case("$ref loop {'$ref': '#'}", {"$ref": "#"}, {"x": 1}),
        Case(
            f"recursive anyOf, invalid params {depth + 1} deep",
            nested_any,
            {"a": deep},
        ),
        Case(
            "enum of 10,000 values, miss",
            {"properties": {"x": {"enum": [f"v{index}" for index in range(10_000)]}}},
            {"x": "nope"},
        ),
        Case(
            "15,000 items against a pattern",
            {"properties": {"x": {"type": "array", "items": {"pattern": "^[a-z0-9]+$"}}}},
            {"x": [f"item{index}" for index in range(15_000)]},
        ),
    ]


def _ratio(old_ms: float, new_ms: float) -> str:
    ratio = old_ms / new_ms if new_ms > 0 else float("inf")
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def main() -> None:
    """Time every case with both validators, print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller hostile inputs")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    new = new_validate(ParamsLimits.of(Settings()))
    rows: list[list[object]] = []
    for case in [*demo_cases(), *hostile_cases(args.quick)]:
        old_ms, old_outcome = timed(old_validate, case)
        new_ms, new_outcome = timed(new, case)
        rows.append(
            [
                case.label,
                f"{old_ms:.3f}",
                old_outcome,
                f"{new_ms:.3f}",
                new_outcome,
                _ratio(old_ms, new_ms),
            ]
        )
    table = markdown_table(
        ["case", "old ms", "old outcome", "new ms", "new outcome", "old/new"], rows
    )
    body = (
        "Params validation in-process, median ms per call (one call when it takes over 1 s). "
        "old = `jsonschema` as used before issue 13; new = publish checks + `jsonschema-rs` "
        "(linear regex) + params limits.\n\n" + table
    )
    report(
        "Schema validation (bench/schema_validation.py)",
        body,
        record=not args.no_record,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
