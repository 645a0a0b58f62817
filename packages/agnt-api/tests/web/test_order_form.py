"""The order form generated from an input schema, and how pages show values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agnt_api.web.display import described_files, duration, file_size, price, schema_rows
from agnt_api.web.order_form import accepts_extra_params, order_fields, read_order_form
from agnt_models import Pricing, PricingModel

SCHEMA = {
    "type": "object",
    "required": ["size", "mode"],
    "properties": {
        "size": {"type": "integer", "minimum": 1, "default": 3, "title": "Size"},
        "ratio": {"type": "number"},
        "mode": {"enum": ["fast", "slow"]},
        "level": {"enum": [1, 2, 3]},
        "name": {"type": "string", "maxLength": 10},
        "flag": {"type": "boolean", "default": True},
        "maybe": {"type": ["integer", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def _fields():
    return {field.name: field for field in order_fields(SCHEMA)}


def test_each_property_gets_a_control_of_its_kind() -> None:
    fields = _fields()
    assert {name: field.kind for name, field in fields.items()} == {
        "size": "integer",
        "ratio": "number",
        "mode": "enum",
        "level": "enum",
        "name": "string",
        "flag": "boolean",
        "maybe": "integer",
        "tags": "json",
    }
    assert fields["size"].required and fields["mode"].required and not fields["ratio"].required
    assert fields["size"].label == "Size" and fields["size"].minimum == 1
    assert fields["size"].shown_value(None) == "3"
    assert fields["flag"].is_checked(None)
    assert fields["name"].max_length == 10
    assert fields["size"].step == "1" and fields["ratio"].step == "any"


def test_a_schema_without_properties_has_only_the_prompt_and_free_params() -> None:
    assert order_fields({"type": "object"}) == []
    assert accepts_extra_params({"type": "object"})
    assert accepts_extra_params({"additionalProperties": {"type": "integer"}})
    assert not accepts_extra_params({"additionalProperties": False})


def test_reading_the_form_types_every_value() -> None:
    params, errors = read_order_form(
        order_fields(SCHEMA),
        {
            "param.size": " 4 ",
            "param.ratio": "2.5",
            "param.mode": "slow",
            "param.level": "2",
            "param.name": " spaced ",
            "param.tags": '["a"]',
        },
    )
    assert errors == {}
    assert params == {
        "size": 4,
        "ratio": 2.5,
        "mode": "slow",
        "level": 2,
        "name": " spaced ",
        "flag": False,
        "tags": ["a"],
    }


def test_bad_values_become_field_errors() -> None:
    params, errors = read_order_form(
        order_fields(SCHEMA),
        {
            "param.size": "3.5",
            "param.ratio": "nan",
            "param.level": "9",
            "param.tags": "[",
        },
    )
    assert errors == {
        "size": "must be a whole number",
        "ratio": "must be a finite number",
        "mode": "is required",
        "level": "must be one of the listed choices",
        "tags": "must be valid JSON",
    }
    assert params == {"flag": False}


def test_extra_params_merge_unless_they_shadow_a_field() -> None:
    fields = order_fields(SCHEMA)
    base = {"param.size": "1", "param.mode": "fast"}
    params, errors = read_order_form(
        fields, {**base, "extra_params": '{"other": [1]}'}, extra_allowed=True
    )
    assert errors == {} and params["other"] == [1]
    _, errors = read_order_form(fields, {**base, "extra_params": '{"size": 2}'}, extra_allowed=True)
    assert errors == {"extra_params": "set size in its own field above"}
    params, errors = read_order_form(fields, {**base, "extra_params": '{"other": 1}'})
    assert errors == {} and "other" not in params  # not offered, not read


def test_a_word_in_a_number_field_is_an_error() -> None:
    _, errors = read_order_form(
        order_fields(SCHEMA), {"param.ratio": "lots", "param.mode": "fast", "param.size": "1"}
    )
    assert errors == {"ratio": "must be a number"}


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_any_whole_number_reads_back_as_itself(number: int) -> None:
    params, errors = read_order_form(
        order_fields(SCHEMA), {"param.size": str(number), "param.mode": "fast"}
    )
    assert errors == {}
    assert params["size"] == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_number_reads_back_as_itself(number: float) -> None:
    params, errors = read_order_form(
        order_fields(SCHEMA), {"param.ratio": repr(number), "param.size": "1", "param.mode": "fast"}
    )
    assert errors == {}
    assert params["ratio"] == number


def test_prices_read_like_prices() -> None:
    assert price(Pricing()) == "Free"
    assert price(Pricing(model=PricingModel.PER_JOB, amount_cents=0)) == "Free"
    assert price(Pricing(model=PricingModel.PER_JOB, amount_cents=250)) == "$2.50 per job"
    assert price(Pricing(model=PricingModel.PER_SECOND, amount_cents=1, currency="EUR")) == (
        "€0.01 per second"
    )
    assert price(Pricing(model=PricingModel.PER_JOB, amount_cents=123456, currency="CHF")) == (
        "1,234.56 CHF per job"
    )


def test_durations_and_sizes_read_naturally() -> None:
    assert duration(None) == "—"
    assert duration(0.42) == "420 ms"
    assert duration(0.004) == "4 ms"  # never "0.0 s"
    assert duration(0.0001) == "< 1 ms"
    assert duration(1.44) == "1.4 s"
    assert duration(42) == "42 s"
    assert duration(185) == "3 min 5 s"
    assert duration(7260) == "2 h 1 min"
    assert file_size(512) == "512 B"
    assert file_size(1536) == "1.5 KiB"
    assert file_size(2 * 1024 * 1024) == "2.0 MiB"


def test_schema_rows_describe_each_property() -> None:
    rows = {row.name: row for row in schema_rows(SCHEMA)}
    assert rows["size"].type == "integer" and rows["size"].required
    assert rows["size"].default == "3" and rows["size"].rules == "≥ 1"
    assert rows["mode"].type == 'one of "fast", "slow"'
    assert rows["maybe"].type == "integer or null"
    assert rows["tags"].type == "array of string"
    assert schema_rows({"files": {}}) == []
    assert described_files({"files": {"a.txt": "the text", "bad": 3}}) == {"a.txt": "the text"}
