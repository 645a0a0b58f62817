"""Reading answers from a newer API: fields this client does not know are dropped.

The wire models refuse unknown fields (right for what the API accepts), but the client
and the API are released apart: an API that adds a field to ``Job`` must not break every
installed client. Before validation, each JSON object is cut down to the fields its model
declares, at every level where the value is itself a model. Free-form JSON values
(``params``, schemas) are kept whole.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel


def known_fields(model: type[BaseModel], data: Any) -> Any:
    """``data`` (parsed JSON) without the keys that ``model`` and its sub-models lack."""
    if not isinstance(data, dict) or model.model_config.get("extra") == "allow":
        return data
    kept: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in data:
            kept[key] = _known_in(field.annotation, data[key])
    return kept


def _known_in(annotation: Any, value: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return known_fields(annotation, value)
    origin = get_origin(annotation)
    if origin is list and isinstance(value, list):
        (item_type,) = get_args(annotation)
        return [_known_in(item_type, item) for item in value]
    if origin in (Union, types.UnionType):
        for option in get_args(annotation):
            if isinstance(option, type) and issubclass(option, BaseModel):
                return known_fields(option, value)
    return value
