"""How values read on the pages: prices, durations, times, sizes, schemas."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agnt_models import TERMINAL, JobStatus, Pricing, PricingModel

_CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}


def price(pricing: Pricing) -> str:
    """``Free``, ``$0.50 per job``, ``$0.01 per second``."""
    if pricing.model is PricingModel.FREE or pricing.amount_cents == 0:
        return "Free"
    whole = f"{pricing.amount_cents / 100:,.2f}"
    sign = _CURRENCY_SIGNS.get(pricing.currency)
    amount = f"{sign}{whole}" if sign else f"{whole} {pricing.currency}"
    unit = "job" if pricing.model is PricingModel.PER_JOB else "second"
    return f"{amount} per {unit}"


def duration(seconds: float | None) -> str:
    """``40 ms``, ``1.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 1 min``; an em dash when unknown.

    Below a second the unit is milliseconds: a quick job never reads ``0.0 s``.
    """
    if seconds is None:
        return "—"
    if seconds < 1:
        return "< 1 ms" if seconds < 0.001 else f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def timestamp(moment: datetime | None) -> str:
    """A UTC time to the second (``2026-11-25 08:51:47 UTC``); an em dash when unset."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """``just now``, ``40 s ago``, ``3 min ago``, ``5 h ago``, ``2 days ago``, else the date;
    a time ahead (a deadline) reads ``in 40 s``, ``in 3 min``, …"""
    if moment is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds <= -5:
        ahead = relative_time(now or datetime.now(UTC), moment)
        if ahead.endswith(" ago"):
            return "in " + ahead.removesuffix(" ago")
        return moment.strftime("%Y-%m-%d")
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 30 * 86400:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days > 1 else ''} ago"
    return moment.strftime("%Y-%m-%d")


def file_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``2.0 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def percent(rate: float | None) -> str:
    """A success rate as ``87%``; an em dash before any job ended."""
    return "—" if rate is None else f"{rate * 100:.0f}%"


def is_terminal(status: JobStatus) -> bool:
    """Whether the job has ended (no more progress, no cancel)."""
    return status in TERMINAL


def pretty_json(value: Any) -> str:
    """JSON indented for reading."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@dataclass(frozen=True)
class SchemaRow:
    """One property of a JSON Schema as a table row."""

    name: str
    type: str
    required: bool
    default: str
    rules: str
    description: str


def _type_of(schema: Mapping[str, Any]) -> str:
    if isinstance(schema.get("enum"), list):
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    declared = schema.get("type")
    if isinstance(declared, list):
        return " or ".join(str(t) for t in declared)
    if isinstance(declared, str):
        if declared == "array" and isinstance(schema.get("items"), dict):
            return f"array of {_type_of(schema['items'])}"
        return declared
    return "any"


_RULES = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("pattern", "matches {}"),
    ("format", "format {}"),
    ("minItems", "at least {} items"),
    ("maxItems", "at most {} items"),
)


def schema_rows(schema: Mapping[str, Any]) -> list[SchemaRow]:
    """The top-level properties of an object schema; empty when it has none."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    rows = []
    for name, raw in properties.items():
        prop: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        rules = [text.format(prop[key]) for key, text in _RULES if key in prop]
        rows.append(
            SchemaRow(
                name=str(name),
                type=_type_of(prop),
                required=name in required_names,
                default=json.dumps(prop["default"]) if "default" in prop else "",
                rules="; ".join(rules),
                description=str(prop.get("description") or ""),
            )
        )
    return rows


def described_files(output_schema: Mapping[str, Any]) -> dict[str, str]:
    """The ``files`` map of an output schema (name -> what it holds), as manifests write it."""
    listed = output_schema.get("files")
    if not isinstance(listed, dict):
        return {}
    return {str(name): str(about) for name, about in listed.items() if isinstance(about, str)}
