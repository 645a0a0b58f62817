"""``--param key=value`` parsing: JSON values, text fallback, dotted keys, malformed pairs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agnt_cli.errors import CliError
from agnt_cli.exit_codes import ExitCode
from agnt_cli.params import build_params, parse_param, parse_param_value, parse_params_document

segments = st.text(
    alphabet=st.characters(blacklist_characters=".=", blacklist_categories=("Cs",)), min_size=1
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=10,
)
nested_params = st.recursive(
    st.dictionaries(segments, json_scalars, max_size=4),
    lambda children: st.dictionaries(segments, children | json_scalars, max_size=4),
    max_leaves=12,
)


def flatten(params: dict[str, Any], prefix: str = "") -> list[str]:
    """``params`` as ``--param`` pairs: one per leaf, dotted keys, JSON values."""
    pairs: list[str] = []
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            pairs += flatten(value, f"{path}.")
        else:
            pairs.append(f"{path}={json.dumps(value)}")
    return pairs


@given(json_values)
def test_a_json_value_is_taken_as_json(value: Any) -> None:
    assert parse_param_value(json.dumps(value)) == value


@given(st.text())
def test_any_text_becomes_its_json_value_or_stays_text(text: str) -> None:
    value = parse_param_value(text)
    json.dumps(value, allow_nan=False)
    if isinstance(value, str) and value == text:
        return
    assert json.loads(text) == value


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[NaN]"])
def test_nan_and_infinity_are_text_because_they_are_not_json(text: str) -> None:
    assert parse_param_value(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("2.5", 2.5),
        ("true", True),
        ("null", None),
        ('"007"', "007"),
        ("007", "007"),
        ("hello world", "hello world"),
        ("", ""),
        ('{"a": [1]}', {"a": [1]}),
        ("{oops", "{oops"),
    ],
)
def test_examples_of_values(text: str, expected: Any) -> None:
    assert parse_param_value(text) == expected


@given(nested_params)
def test_flattened_dotted_pairs_rebuild_the_params(params: dict[str, Any]) -> None:
    assert build_params(flatten(params)) == params


@given(nested_params, nested_params)
def test_params_are_always_plain_json(base: dict[str, Any], extra: dict[str, Any]) -> None:
    try:
        params = build_params(flatten(extra), base)
    except CliError as error:
        assert error.exit_code == ExitCode.USAGE
        return
    assert json.loads(json.dumps(params, allow_nan=False)) == params


@given(segments, json_scalars)
def test_the_value_after_the_first_equals_sign_is_kept_whole(key: str, value: Any) -> None:
    text = f"x={json.dumps(value)}"
    assert parse_param(f"{key}={text}") == ([key], text)


@given(st.text(alphabet=st.characters(blacklist_characters="=")))
def test_a_pair_without_equals_sign_is_a_usage_error_naming_it(pair: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_param(pair)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.code == "invalid_param"
    assert repr(pair) in caught.value.message


@pytest.mark.parametrize("pair", ["=1", ".a=1", "a.=1", "a..b=1"])
def test_an_empty_key_segment_is_a_usage_error(pair: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_param(pair)
    assert caught.value.code == "invalid_param"
    assert repr(pair) in caught.value.message


def test_param_overrides_the_params_file_and_merges_into_its_objects() -> None:
    base = {"count": 1, "style": {"tone": "dry", "length": 3}}
    assert build_params(["count=2", "style.tone=warm", "tags=[1]"], base) == {
        "count": 2,
        "style": {"tone": "warm", "length": 3},
        "tags": [1],
    }
    assert base == {"count": 1, "style": {"tone": "dry", "length": 3}}


def test_last_pair_for_a_key_wins() -> None:
    assert build_params(["a=1", "a=2", "b.c=1", "b=5"]) == {"a": 2, "b": 5}


def test_descending_into_a_value_that_is_not_an_object_is_an_error_naming_the_pair() -> None:
    with pytest.raises(CliError) as caught:
        build_params(["a=1", "a.b=2"])
    assert caught.value.code == "invalid_param"
    assert "'a.b=2'" in caught.value.message


@pytest.mark.parametrize("text", ["[1, 2]", "3", "not json", "NaN"])
def test_a_params_document_must_be_a_json_object(text: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_params_document(text, "p.json")
    assert caught.value.code == "invalid_params_file"
    assert caught.value.exit_code == ExitCode.USAGE
