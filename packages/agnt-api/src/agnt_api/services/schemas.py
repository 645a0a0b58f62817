"""JSON Schema checks: an agent's schemas must be valid, a job's params must satisfy one."""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from agnt_api.errors import ValidationFailed
from agnt_models import FieldError

MAX_REPORTED_ERRORS = 20


def _dotted(prefix: str, path: Any) -> str:
    return ".".join([prefix, *(str(part) for part in path)])


def check_no_nul(field: str, value: object) -> None:
    """``ValidationFailed`` if any string in ``value`` holds a NUL character.

    Postgres text and jsonb cannot store U+0000; refusing it everywhere keeps both
    databases answering the same.
    """
    stack: list[tuple[str, object]] = [(field, value)]
    while stack:
        loc, item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            raise ValidationFailed(
                f"{loc} contains a NUL character",
                errors=[FieldError(loc=loc, message="NUL characters are not allowed")],
            )
        if isinstance(item, dict):
            stack.extend((f"{loc}.{key}", key) for key in item)
            stack.extend((f"{loc}.{key}", child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((f"{loc}.{index}", child) for index, child in enumerate(item))


def check_schema(field: str, schema: dict[str, Any]) -> None:
    """``ValidationFailed`` naming ``field`` unless ``schema`` is a valid JSON Schema."""
    validator = jsonschema.validators.validator_for(schema)
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        loc = _dotted(field, exc.path)
        raise ValidationFailed(
            f"{field} is not a valid JSON Schema: {exc.message}",
            errors=[FieldError(loc=loc, message=exc.message)],
        ) from exc


def validate_params(schema: dict[str, Any], params: dict[str, Any]) -> None:
    """``ValidationFailed`` naming each bad field (``params.<path>``) unless params fit."""
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    failures = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if not failures:
        return
    errors = [
        FieldError(loc=_dotted("params", failure.absolute_path), message=failure.message)
        for failure in failures[:MAX_REPORTED_ERRORS]
    ]
    first = errors[0]
    raise ValidationFailed(f"{first.loc}: {first.message}", errors=errors)
