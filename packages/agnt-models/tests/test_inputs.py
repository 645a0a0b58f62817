"""The input-file wire rules: an agent's rule, names, media type patterns."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from agnt_models import InputFilesRule, InputRef


def test_rule_counts_and_media_types() -> None:
    rule = InputFilesRule(min=1, max=2, media_types=["image/*", "Application/PDF"])
    assert rule.media_types == ["image/*", "application/pdf"]
    assert rule.problem(["image/png"]) is None
    assert rule.problem(["application/pdf; charset=binary", "IMAGE/JPEG"]) is None
    assert "at least 1" in (rule.problem([]) or "")
    assert "at most 2" in (rule.problem(["image/png"] * 3) or "")
    assert "text/plain" in (rule.problem(["text/plain"]) or "")
    assert InputFilesRule().problem(["anything/at-all"] * 10) is None


@pytest.mark.parametrize("bad", [{"min": 3, "max": 2}, {"media_types": ["image"]}, {"max": -1}])
def test_bad_rules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        InputFilesRule.model_validate(bad)


@pytest.mark.parametrize("name", ["a/b.txt", "con.txt", "x.", "", "a:b"])
def test_input_names_follow_the_result_file_rule(name: str) -> None:
    with pytest.raises(ValidationError):
        InputRef(file_id=uuid.uuid4(), name=name)
