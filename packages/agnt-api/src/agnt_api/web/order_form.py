"""The order form generated from an agent's ``input_schema``, and reading it back.

Each top-level property becomes one field: a text input (string), a number input
(number, integer), a checkbox (boolean), a select (enum); anything else (objects,
arrays, unions) is a JSON textarea. Reading the submitted form turns the text back into
typed params; what cannot be converted is a field error shown next to the field. The
full JSON Schema check stays in the services (``validate_params``).
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue
from starlette.datastructures import FormData, UploadFile

PARAM_PREFIX = "param."
EXTRA_PARAMS_FIELD = "extra_params"
"""A JSON object of params the form has no field for (when the schema allows them)."""


@dataclass(frozen=True)
class OrderField:
    """One form control for one input property."""

    name: str
    kind: str  # "string", "number", "integer", "boolean", "enum" or "json"
    label: str
    description: str
    required: bool
    default: JsonValue
    choices: tuple[JsonValue, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None

    @property
    def input_name(self) -> str:
        """The control's name in the posted form."""
        return PARAM_PREFIX + self.name

    @property
    def input_id(self) -> str:
        """The control's element id (labels and error messages point at it)."""
        return "param-" + "".join(c if c.isalnum() else "-" for c in self.name)

    @property
    def step(self) -> str:
        """The number input's ``step``: whole numbers for integers, anything for numbers."""
        return "1" if self.kind == "integer" else "any"

    def shown_value(self, submitted: Mapping[str, str] | None) -> str:
        """What the control shows: the submitted text, else the default."""
        if submitted is not None:
            return submitted.get(self.input_name, "")
        if self.default is None:
            return ""
        if self.kind == "json":
            return json.dumps(self.default, indent=2)
        return choice_value(self.default)

    def is_checked(self, submitted: Mapping[str, str] | None) -> bool:
        """Whether a boolean field's checkbox is ticked."""
        if submitted is not None:
            return self.input_name in submitted
        return self.default is True


def choice_value(value: JsonValue) -> str:
    """An enum choice (or default) as the text of a form control."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _kind(schema: Mapping[str, Any]) -> str:
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "enum"
    declared = schema.get("type")
    if isinstance(declared, list):
        # ["integer", "null"]: an optional scalar reads like its one non-null type.
        kinds = [t for t in declared if t != "null"]
        declared = kinds[0] if len(kinds) == 1 else None
    if declared in ("string", "number", "integer", "boolean"):
        return str(declared)
    return "json"


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def accepts_extra_params(input_schema: Mapping[str, Any]) -> bool:
    """Whether params beyond the declared properties are allowed (JSON Schema's default)."""
    return input_schema.get("additionalProperties", True) is not False


def order_fields(input_schema: Mapping[str, Any]) -> list[OrderField]:
    """The form's fields, in the schema's property order (required ones are marked)."""
    properties = input_schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = input_schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    fields = []
    for name, raw in properties.items():
        schema: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        kind = _kind(schema)
        title = schema.get("title")
        max_length = schema.get("maxLength")
        fields.append(
            OrderField(
                name=str(name),
                kind=kind,
                label=str(title) if isinstance(title, str) and title else str(name),
                description=str(schema.get("description") or ""),
                required=name in required_names,
                default=schema.get("default"),
                choices=tuple(schema["enum"]) if kind == "enum" else (),
                minimum=_number(schema.get("minimum")),
                maximum=_number(schema.get("maximum")),
                max_length=max_length if isinstance(max_length, int) else None,
            )
        )
    return fields


def _parse_number(text: str, integer: bool) -> int | float:
    try:
        whole = int(text)
    except ValueError:
        if integer:
            raise ValueError("must be a whole number") from None
        try:
            number = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number") from None
        return number
    return whole


def _parse_field(field: OrderField, form: Mapping[str, str]) -> tuple[bool, JsonValue]:
    """``(present, value)`` of one field; ``ValueError`` says what is wrong."""
    if field.kind == "boolean":
        # An unticked checkbox is not posted: the form always means true or false.
        return True, field.input_name in form
    text = form.get(field.input_name, "")
    if field.kind != "string":
        text = text.strip()
    if text == "":
        if field.required:
            raise ValueError("is required")
        return False, None
    if field.kind in ("number", "integer"):
        return True, _parse_number(text, field.kind == "integer")
    if field.kind == "enum":
        for choice in field.choices:
            if choice_value(choice) == text:
                return True, choice
        raise ValueError("must be one of the listed choices")
    if field.kind == "json":
        try:
            value: JsonValue = json.loads(text)
        except ValueError:
            raise ValueError("must be valid JSON") from None
        return True, value
    return True, text


def _extra_params(text: str, fields: list[OrderField]) -> dict[str, JsonValue]:
    if not text.strip():
        return {}
    try:
        extra = json.loads(text)
    except ValueError:
        raise ValueError("must be valid JSON") from None
    if not isinstance(extra, dict):
        raise ValueError('must be a JSON object, like {"key": "value"}')
    declared = sorted({field.name for field in fields} & set(extra))
    if declared:
        raise ValueError(f"set {', '.join(declared)} in its own field above")
    return extra


def read_order_form(
    fields: list[OrderField], form: Mapping[str, str], *, extra_allowed: bool = False
) -> tuple[dict[str, JsonValue], dict[str, str]]:
    """``(params, errors)`` from a posted form; ``errors`` maps a field name to its message.

    With ``extra_allowed``, the ``extra_params`` JSON object adds params without a field.
    """
    params: dict[str, JsonValue] = {}
    errors: dict[str, str] = {}
    if extra_allowed:
        try:
            params.update(_extra_params(form.get(EXTRA_PARAMS_FIELD, ""), fields))
        except ValueError as exc:
            errors[EXTRA_PARAMS_FIELD] = str(exc)
    for field in fields:
        try:
            present, value = _parse_field(field, form)
        except ValueError as exc:
            errors[field.name] = str(exc)
            continue
        if present:
            params[field.name] = value
    return params, errors


UPLOAD_CHUNK_BYTES = 256 * 1024
INPUT_FILES_FIELD = "input_files"
"""The order form's file field: each chosen file becomes one of the job's input files."""


async def upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    """A form's file, read in chunks (Starlette spooled it to a temp file, not memory)."""
    while chunk := await upload.read(UPLOAD_CHUNK_BYTES):
        yield chunk


def chosen_files(form: FormData) -> list[UploadFile]:
    """The files of the order form's file field (an empty file input sends no name)."""
    return [
        value
        for value in form.getlist(INPUT_FILES_FIELD)
        if isinstance(value, UploadFile) and value.filename
    ]


def form_values(
    fields: list[OrderField], params: Mapping[str, JsonValue], *, extra_allowed: bool
) -> dict[str, str]:
    """The posted form that would order ``params`` again (``read_order_form``'s inverse)."""
    values: dict[str, str] = {}
    for field in fields:
        if field.name not in params:
            continue
        value = params[field.name]
        if field.kind == "boolean":
            if value is True:
                values[field.input_name] = "true"
        elif field.kind == "json":
            values[field.input_name] = json.dumps(value, indent=2)
        elif field.kind == "enum" or isinstance(value, str):
            values[field.input_name] = choice_value(value)
        else:
            values[field.input_name] = json.dumps(value)
    declared = {field.name for field in fields}
    extra = {name: value for name, value in params.items() if name not in declared}
    if extra and extra_allowed:
        values[EXTRA_PARAMS_FIELD] = json.dumps(extra, indent=2)
    return values
