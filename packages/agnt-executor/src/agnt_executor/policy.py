"""Accept policies: whether an executor takes a job, and if not, a reason a buyer can read.

The API already validates ``params`` against the agent's ``input_schema``; a policy adds
the owner's own limits (prompt size, a cap on a number, an allow-list of models).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from agnt_models import MAX_PROMPT_BYTES, Job


class ParamRule(BaseModel):
    """An extra rule on one job param; a job that breaks it is rejected with ``reason``.

    Every limit given must hold; a missing param passes unless ``required``.
    """

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1)]
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, ge=0)
    pattern: str | None = None
    one_of: list[JsonValue] | None = None
    reason: str | None = Field(
        default=None, description="Rejection reason shown to the buyer; generated if absent."
    )

    @model_validator(mode="after")
    def _pattern_compiles(self) -> Self:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") from exc
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
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return f"param '{self.name}' must match {self.pattern}"
        return None

    def _explain(self, generated: str) -> str:
        return self.reason or generated


class AcceptPolicy(BaseModel):
    """When an agent takes a job: prompt limits plus extra param rules."""

    model_config = ConfigDict(extra="forbid")

    max_prompt_bytes: int = Field(default=MAX_PROMPT_BYTES, ge=0)
    allow_empty_prompt: bool = False
    params: list[ParamRule] = Field(default_factory=list)

    def rejection_reason(self, job: Job) -> str | None:
        """Why this agent rejects ``job``, or None when it accepts it."""
        if not self.allow_empty_prompt and not job.prompt.strip():
            return "the prompt is empty"
        size = len(job.prompt.encode("utf-8"))
        if size > self.max_prompt_bytes:
            return f"the prompt is {size} bytes; this agent accepts at most {self.max_prompt_bytes}"
        for rule in self.params:
            reason = rule.violation(job.params)
            if reason is not None:
                return reason
        return None
