"""Accept rules: when an agent takes a job, and if not, a reason a buyer can read.

The executor publishes its agents' rules (``AgentPublish.accept_rules``); the API refuses an
order that breaks them (``order_refused``, with this reason) before it is queued, and the
executor applies the very same check to each job it claims. One implementation, here.

Patterns run on Rust's ``regex`` engine (through pydantic-core): linear time, so a rule
published by an untrusted executor cannot stall the API.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Self

from pydantic import (
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import SchemaError

from agnt_models.common import MAX_PROMPT_BYTES, MAX_REASON_CHARS, WireModel

MAX_PARAM_RULES = 100
MAX_RULE_PATTERN_CHARS = 1_000


@functools.lru_cache(maxsize=256)
def _full_matcher(pattern: str) -> TypeAdapter[str]:
    """A validator that passes strings matching all of ``pattern`` (``SchemaError`` if bad)."""
    anchored = f"^(?:{pattern})$"
    return TypeAdapter(
        Annotated[str, StringConstraints(pattern=anchored)],
        config=ConfigDict(regex_engine="rust-regex"),
    )


def _matches(pattern: str, value: str) -> bool:
    try:
        _full_matcher(pattern).validate_python(value)
    except ValidationError:
        return False
    return True


class ParamRule(WireModel):
    """An extra rule on one job param; a job that breaks it is rejected with ``reason``.

    Every limit given must hold; a missing param passes unless ``required``. ``pattern``
    must match the whole string (Rust regex syntax: no look-around, no back-references).
    """

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, ge=0)
    pattern: Annotated[str, StringConstraints(max_length=MAX_RULE_PATTERN_CHARS)] | None = None
    one_of: list[JsonValue] | None = Field(default=None, max_length=1_000)
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON_CHARS)] | None = Field(
        default=None, description="Rejection reason shown to the buyer; generated if absent."
    )

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _pattern_compiles(self) -> Self:
        if self.pattern is not None:
            try:
                _full_matcher(self.pattern)
            except SchemaError as exc:
                first = str(exc).strip().splitlines()[-1].strip()
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {first}") from exc
        return self

    def violation(self, params: dict[str, JsonValue]) -> str | None:
        """Why ``params`` break this rule, or None when they satisfy it."""
        if self.name not in params:
            return self._explain(f"param '{self.name}' is required") if self.required else None
        value = params[self.name]
        problem = self._number_problem(value) or self._string_problem(value)
        if problem is None and self.one_of is not None and value not in self.one_of:
            allowed = ", ".join(json.dumps(v) for v in self.one_of)
            problem = f"param '{self.name}' must be one of {allowed}"
        return None if problem is None else self._explain(problem)

    def describe(self) -> str:
        """The rule in a few words, for people (the agent page)."""
        parts: list[str] = []
        if self.required:
            parts.append("required")
        if self.minimum is not None:
            parts.append(f"≥ {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"≤ {self.maximum:g}")
        if self.max_length is not None:
            parts.append(f"at most {self.max_length} characters")
        if self.pattern is not None:
            parts.append(f"matches {self.pattern}")
        if self.one_of is not None:
            parts.append("one of " + ", ".join(json.dumps(v) for v in self.one_of))
        return "; ".join(parts) or "no limit"

    def _number_problem(self, value: JsonValue) -> str | None:
        if self.minimum is None and self.maximum is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"param '{self.name}' must be a number"
        if self.minimum is not None and value < self.minimum:
            return f"param '{self.name}' must be at least {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"param '{self.name}' must be at most {self.maximum:g}"
        return None

    def _string_problem(self, value: JsonValue) -> str | None:
        if self.max_length is None and self.pattern is None:
            return None
        if not isinstance(value, str):
            return f"param '{self.name}' must be a string"
        if self.max_length is not None and len(value) > self.max_length:
            return f"param '{self.name}' must be at most {self.max_length} characters"
        if self.pattern is not None and not _matches(self.pattern, value):
            return f"param '{self.name}' must match {self.pattern}"
        return None

    def _explain(self, generated: str) -> str:
        return self.reason or generated


class AcceptRules(WireModel):
    """When an agent takes a job: prompt limits plus extra param rules.

    Checked by the API at order time (``order_refused``) and by the executor on each job.
    """

    max_prompt_bytes: int = Field(default=MAX_PROMPT_BYTES, ge=0)
    allow_empty_prompt: bool = False
    params: list[ParamRule] = Field(default_factory=list, max_length=MAX_PARAM_RULES)

    def violation(self, prompt: str, params: dict[str, JsonValue]) -> str | None:
        """Why a job with ``prompt`` and ``params`` is refused, or None when it is accepted."""
        if not self.allow_empty_prompt and not prompt.strip():
            return "the prompt is empty"
        size = len(prompt.encode("utf-8", "surrogatepass"))
        if size > self.max_prompt_bytes:
            return f"the prompt is {size} bytes; this agent accepts at most {self.max_prompt_bytes}"
        for rule in self.params:
            reason = rule.violation(params)
            if reason is not None:
                return reason
        return None
