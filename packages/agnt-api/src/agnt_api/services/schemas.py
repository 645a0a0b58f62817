"""JSON Schema checks: an agent's schemas must be usable, a job's params must satisfy one.

The validator is ``jsonschema-rs``: regexes run on Rust's ``regex`` crate (linear time, no
backtracking), ``uniqueItems`` hashes instead of comparing every pair, and its retriever
refuses every URI, so a schema can never make the API fetch anything. References are
checked statically first (``schema_refs``) so a bad schema is refused at publish, naming
the pointer. Input is bounded (bytes, depth, values) before it reaches the validator.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema_rs

from agnt_api.errors import PayloadTooLarge, ValidationFailed
from agnt_api.services.schema_refs import SchemaShape, check_references
from agnt_api.settings import Settings
from agnt_models import FieldError

MAX_REPORTED_ERRORS = 20
MIN_STORABLE_INT = -(2**63)
MAX_STORABLE_INT = 2**63 - 1
"""Integers both databases' JSON keeps exactly (SQLite's JSON functions use 64-bit ints)."""

REGEX_SIZE_LIMIT = 1 << 20
"""Bytes a compiled pattern may take (Rust ``regex``); a larger pattern is refused at publish."""

_COMPILED_CACHE_SIZE = 256
_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class ParamsLimits:
    """How much work one order's params may cost (settings ``AGNT_MAX_PARAMS_*``)."""

    max_bytes: int
    max_depth: int
    max_values: int

    @classmethod
    def of(cls, settings: Settings) -> ParamsLimits:
        """The limits configured in ``settings``."""
        return cls(
            max_bytes=settings.max_params_bytes,
            max_depth=settings.max_params_depth,
            max_values=settings.max_params_values,
        )


def _surrogate_free(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(item: object) -> str | None:
    """Why a database cannot store ``item`` (not its children), or None."""
    if isinstance(item, str):
        if "\x00" in item:
            return "NUL characters are not allowed"
        if not _surrogate_free(item):
            return "lone surrogate characters (invalid Unicode) are not allowed"
    elif isinstance(item, float) and not math.isfinite(item):
        return "numbers must be finite (no NaN, Infinity or out-of-range values like 1e400)"
    elif isinstance(item, int) and not MIN_STORABLE_INT <= item <= MAX_STORABLE_INT:
        return "integers must fit in 64 bits (-2^63 to 2^63-1)"
    return None


Trail = tuple["Trail", str | int] | None
"""Where a value sits: ``(parent's trail, key or index)``, turned into a loc only on error."""


def _loc(field: str, trail: Trail) -> str:
    parts: list[str] = []
    while trail is not None:
        trail, key = trail
        parts.append(str(key) if not isinstance(key, str) or _surrogate_free(key) else "<key>")
    return ".".join([field, *reversed(parts)])


def _refused(field: str, trail: Trail, message: str) -> ValidationFailed:
    loc = _loc(field, trail)
    return ValidationFailed(f"{loc}: {message}", errors=[FieldError(loc=loc, message=message)])


def check_storable(field: str, value: object) -> None:
    """``ValidationFailed`` naming the spot if ``value`` holds what a database cannot store.

    Refused everywhere, so SQLite and Postgres answer alike: NUL characters (Postgres text
    and jsonb cannot hold U+0000), lone surrogates (not UTF-8; stored on SQLite they would
    break every later read), NaN, infinities and integers outside 64 bits.
    """
    stack: list[tuple[object, Trail]] = [(value, None)]
    while stack:
        item, trail = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                child_trail = (trail, key)
                problem = _unstorable(key)
                if problem is not None:
                    raise _refused(field, child_trail, problem)
                stack.append((child, child_trail))
        elif isinstance(item, list | tuple):
            stack.extend((child, (trail, index)) for index, child in enumerate(item))
        else:
            problem = _unstorable(item)
            if problem is not None:
                raise _refused(field, trail, problem)


def without_surrogates(value: Any) -> Any:
    """``value`` with each lone surrogate replaced by U+FFFD (for rows stored before the checks).

    Returns ``value`` itself when it holds none, which is the cheap, usual case.
    """
    if isinstance(value, str):
        if _surrogate_free(value):
            return value
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        cleaned = {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
        return value if cleaned == value else cleaned
    if isinstance(value, list):
        items = [without_surrogates(item) for item in value]
        return value if items == value else items
    return value


def _refuse_retrieval(uri: str) -> Any:
    raise ValueError(f"{uri[:200]} is outside the schema; only local references are allowed")


def _compile(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(schema, **_validator_options())


def _validator_options() -> dict[str, Any]:
    """One set of options for every compiled validator: linear regexes, no retrieval."""
    return {
        "validate_formats": True,
        "retriever": _refuse_retrieval,
        "pattern_options": jsonschema_rs.RegexOptions(size_limit=REGEX_SIZE_LIMIT),
    }


@dataclass(frozen=True)
class CompiledSchema:
    """A schema checked and compiled once, with what error reporting may cost."""

    validator: jsonschema_rs.Validator
    shape: SchemaShape
    document: dict[str, Any]


def _dotted(prefix: str, path: list[str | int] | tuple[str, ...]) -> str:
    return ".".join([prefix, *(str(part) for part in path)])


def _checked(field: str, schema: dict[str, Any]) -> CompiledSchema:
    shape = check_references(field, schema)
    try:
        validator = _compile(schema)
    except jsonschema_rs.ValidationError as exc:
        loc = _dotted(field, exc.instance_path)
        message = _schema_message(exc)
        raise ValidationFailed(
            f"{field} is not a valid JSON Schema: {loc}: {message}",
            errors=[FieldError(loc=loc, message=message)],
        ) from exc
    except ValueError as exc:
        message = str(exc).splitlines()[0][:_MESSAGE_CHARS]
        raise ValidationFailed(
            f"{field} is not a usable JSON Schema: {message}",
            errors=[FieldError(loc=field, message=message)],
        ) from exc
    return CompiledSchema(validator=validator, shape=shape, document=schema)


def _schema_message(exc: jsonschema_rs.ValidationError) -> str:
    if (
        isinstance(exc.kind, jsonschema_rs.ValidationErrorKind.Format)
        and exc.kind.format == "regex"
    ):
        return (
            "not a supported regular expression (no look-around or backreferences; "
            "patterns run in linear time)"
        )
    return exc.message[:_MESSAGE_CHARS]


@lru_cache(maxsize=_COMPILED_CACHE_SIZE)
def _compiled_from_json(field: str, canonical: str) -> CompiledSchema:
    return _checked(field, json.loads(canonical))


def compiled_schema(field: str, schema: dict[str, Any]) -> CompiledSchema:
    """``schema`` checked and compiled (cached by content): ``ValidationFailed`` if unusable."""
    return _compiled_from_json(field, json.dumps(schema, sort_keys=True, separators=(",", ":")))


def check_schema(field: str, schema: dict[str, Any]) -> None:
    """``ValidationFailed`` naming the pointer unless ``schema`` is a usable JSON Schema.

    Usable: valid against its draft's meta-schema, references only inside itself (and
    terminating), regexes the linear engine accepts, within the size limits.
    """
    compiled_schema(field, schema)


def check_params_size(params: dict[str, Any], limits: ParamsLimits) -> None:
    """``PayloadTooLarge`` / ``ValidationFailed`` unless params are within ``limits``."""
    size = len(json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode())
    if size > limits.max_bytes:
        raise PayloadTooLarge(
            f"params take {size} bytes as JSON; the limit is {limits.max_bytes} bytes"
        )
    values = 0
    stack: list[tuple[object, int, Trail]] = [(params, 0, None)]
    while stack:
        item, depth, trail = stack.pop()
        values += 1
        if values > limits.max_values:
            raise _refused(
                "params",
                None,
                f"params hold more than {limits.max_values} values (items and fields)",
            )
        if depth > limits.max_depth:
            raise _refused("params", trail, f"nested deeper than {limits.max_depth} levels")
        if isinstance(item, dict):
            stack.extend((child, depth + 1, (trail, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, depth + 1, (trail, index)) for index, child in enumerate(item))


def validate_params(schema: dict[str, Any], params: dict[str, Any], limits: ParamsLimits) -> None:
    """``ValidationFailed`` naming each bad field (``params.<path>``) unless params fit.

    Also ``ValidationFailed`` (naming ``input_schema.<pointer>``) if the agent's stored
    schema is unusable, which only an agent published before these checks can have.
    """
    check_params_size(params, limits)
    compiled = compiled_schema("input_schema", schema)
    if compiled.validator.is_valid(params):
        return
    if compiled.shape.cheap_errors:
        errors = _all_errors(compiled.validator, params)
    else:
        errors = _field_errors(compiled, params)
    first = errors[0]
    raise ValidationFailed(f"{first.loc}: {first.message}", errors=errors)


def _all_errors(validator: jsonschema_rs.Validator, params: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for failure in validator.iter_errors(params):
        errors.extend(_field_errors_of(failure))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    errors.sort(key=lambda error: error.loc)
    return errors[:MAX_REPORTED_ERRORS] or [
        FieldError(loc="params", message="does not match the agent's input schema")
    ]


def _field_errors(compiled: CompiledSchema, params: dict[str, Any]) -> list[FieldError]:
    """Which top-level fields fail, without walking every branch of a recursive schema."""
    properties = compiled.document.get("properties")
    errors: list[FieldError] = []
    if isinstance(properties, dict):
        validators = jsonschema_rs.validator_map_for(compiled.document, retriever=_refuse_retrieval)
        for key in sorted(params):
            sub = validators.get("#/properties/" + key.replace("~", "~0").replace("/", "~1"))
            if sub is not None and not sub.is_valid(params[key]):
                message = "does not match the schema of this field"
                errors.append(FieldError(loc=f"params.{key}", message=message))
    return errors[:MAX_REPORTED_ERRORS] or [
        FieldError(loc="params", message="does not match the agent's input schema")
    ]


_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_errors_of(failure: jsonschema_rs.ValidationError) -> list[FieldError]:
    """Buyer-readable errors for one validator failure (no Python reprs of the value)."""
    loc = _dotted("params", failure.instance_path)
    kind = failure.kind
    kinds = jsonschema_rs.ValidationErrorKind
    message: str
    if isinstance(kind, kinds.Required):
        return [FieldError(loc=f"{loc}.{kind.property}", message="is required")]
    if isinstance(kind, kinds.AdditionalProperties):
        return [
            FieldError(loc=f"{loc}.{name}", message="is not an accepted field")
            for name in kind.unexpected
        ]
    if isinstance(kind, kinds.Type):
        message = "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in kind.types)
    elif isinstance(kind, kinds.Minimum):
        message = f"must be at least {kind.limit}"
    elif isinstance(kind, kinds.Maximum):
        message = f"must be at most {kind.limit}"
    elif isinstance(kind, kinds.ExclusiveMinimum):
        message = f"must be greater than {kind.limit}"
    elif isinstance(kind, kinds.ExclusiveMaximum):
        message = f"must be less than {kind.limit}"
    elif isinstance(kind, kinds.MinLength):
        message = f"must be at least {kind.limit} characters long"
    elif isinstance(kind, kinds.MaxLength):
        message = f"must be at most {kind.limit} characters long"
    elif isinstance(kind, kinds.MinItems):
        message = f"must have at least {kind.limit} items"
    elif isinstance(kind, kinds.MaxItems):
        message = f"must have at most {kind.limit} items"
    elif isinstance(kind, kinds.UniqueItems):
        message = "must not hold the same item twice"
    elif isinstance(kind, kinds.Pattern):
        message = f"must match the pattern {_short(kind.pattern)}"
    elif isinstance(kind, kinds.Enum):
        message = "must be one of " + ", ".join(_short(option) for option in kind.options[:10])
    elif isinstance(kind, kinds.Constant):
        message = f"must be {_short(kind.expected_value)}"
    elif isinstance(kind, kinds.Format):
        message = f"must be a valid {kind.format}"
    elif isinstance(kind, kinds.MultipleOf):
        message = f"must be a multiple of {kind.multiple_of}"
    elif isinstance(kind, kinds.AnyOf | kinds.OneOfNotValid):
        message = "does not match any of the accepted forms"
    elif isinstance(kind, kinds.OneOfMultipleValid):
        message = "matches more than one of the accepted forms"
    elif isinstance(kind, kinds.FalseSchema):
        message = "is not accepted"
    else:
        message = failure.message[:_MESSAGE_CHARS]
    return [FieldError(loc=loc, message=message)]
