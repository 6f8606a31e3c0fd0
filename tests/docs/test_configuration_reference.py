"""docs/configuration.md documents exactly the keys of the config model, no more and no fewer."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from message_export.config import ExportConfig

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
# a key is documented as the first cell of a table row: | `s3.bucket` | ...
DOCUMENTED_KEY = re.compile(r"^\|\s*`([a-z_][a-z0-9_.\[\]]*)`\s*\|", re.MULTILINE)


def _nested_model(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """Return the model an annotation holds (``Model``, ``Model | None``, ``list[Model]``) and whether in a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            model, in_list = _nested_model(member)
            if model is not None:
                return model, in_list
    if origin is list:
        [item] = typing.get_args(annotation)
        model, _ = _nested_model(item)
        return model, True
    return None, False


def model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted key of a config model: sections and their keys; a list of sections as ``name[].key``."""
    keys = set()
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.add(key)
        nested, in_list = _nested_model(field.annotation)
        if nested is not None:
            keys |= model_keys(nested, f"{key}[]." if in_list else f"{key}.")
    return keys


def documented_keys() -> set[str]:
    return set(DOCUMENTED_KEY.findall(REFERENCE.read_text(encoding="utf-8")))


def test_every_config_key_is_documented():
    missing = sorted(model_keys(ExportConfig) - documented_keys())
    assert not missing, f"keys of the config model missing from {REFERENCE}: {', '.join(missing)}"


def test_every_documented_key_exists():
    unknown = sorted(documented_keys() - model_keys(ExportConfig))
    assert not unknown, f"{REFERENCE} documents keys the config model does not have: {', '.join(unknown)}"


def test_the_walk_reaches_nested_sections():
    keys = model_keys(ExportConfig)
    assert {"s3.bucket", "retry.backoff_seconds", "notifications.sns.topic_arn"} <= keys
    assert "notifications.notifiers[].notifier" in keys
