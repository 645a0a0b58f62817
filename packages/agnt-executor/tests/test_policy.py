"""Accept policies: each rule rejects with a reason a buyer can read."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agnt_executor.policy import AcceptPolicy, ParamRule
from agnt_models import Job


def test_default_policy_accepts_a_plain_prompt(make_job: Callable[..., Job]) -> None:
    assert AcceptPolicy().rejection_reason(make_job("summarize this")) is None


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_rejected(make_job: Callable[..., Job], prompt: str) -> None:
    assert AcceptPolicy().rejection_reason(make_job(prompt)) == "the prompt is empty"


def test_empty_prompt_allowed_when_configured(make_job: Callable[..., Job]) -> None:
    assert AcceptPolicy(allow_empty_prompt=True).rejection_reason(make_job("")) is None


def test_prompt_over_the_byte_limit_is_rejected_with_sizes(make_job: Callable[..., Job]) -> None:
    reason = AcceptPolicy(max_prompt_bytes=5).rejection_reason(make_job("héllo"))
    assert reason == "the prompt is 6 bytes; this agent accepts at most 5"


@pytest.mark.parametrize(
    ("rule", "params", "expected"),
    [
        (ParamRule(name="n", required=True), {}, "param 'n' is required"),
        (ParamRule(name="n", maximum=10), {"n": 11}, "param 'n' must be at most 10"),
        (ParamRule(name="n", minimum=1.5), {"n": 1}, "param 'n' must be at least 1.5"),
        (ParamRule(name="n", maximum=10), {"n": "ten"}, "param 'n' must be a number"),
        (ParamRule(name="n", maximum=10), {"n": True}, "param 'n' must be a number"),
        (
            ParamRule(name="s", max_length=3),
            {"s": "abcd"},
            "param 's' must be at most 3 characters",
        ),
        (ParamRule(name="s", pattern="[a-z]+"), {"s": "ab1"}, "param 's' must match [a-z]+"),
        (ParamRule(name="s", pattern="[a-z]+"), {"s": 3}, "param 's' must be a string"),
        (
            ParamRule(name="model", one_of=["flash", "pro"]),
            {"model": "ultra"},
            'param \'model\' must be one of "flash", "pro"',
        ),
    ],
)
def test_param_rule_violation_names_the_param(
    rule: ParamRule, params: dict[str, object], expected: str
) -> None:
    assert rule.violation(params) == expected  # type: ignore[arg-type]


def test_missing_optional_param_passes() -> None:
    assert ParamRule(name="n", maximum=3).violation({}) is None


def test_custom_reason_replaces_the_generated_one(make_job: Callable[..., Job]) -> None:
    policy = AcceptPolicy(params=[ParamRule(name="seconds", maximum=60, reason="too long")])
    assert policy.rejection_reason(make_job(params={"seconds": 61})) == "too long"
    assert policy.rejection_reason(make_job(params={"seconds": 60})) is None


def test_invalid_pattern_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="not a valid regex"):
        ParamRule(name="s", pattern="(")


@given(value=st.integers(-1000, 1000), low=st.integers(-100, 0), high=st.integers(0, 100))
def test_number_range_accepts_exactly_the_values_inside(value: int, low: int, high: int) -> None:
    rule = ParamRule(name="n", minimum=low, maximum=high)
    assert (rule.violation({"n": value}) is None) == (low <= value <= high)
