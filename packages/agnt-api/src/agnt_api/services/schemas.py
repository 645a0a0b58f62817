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
