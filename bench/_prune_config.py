"""Drop the keys an older checkout's Environment model does not know (run with ITS python).

Usage: python _prune_config.py IN.yaml OUT.yaml  (cwd: the older checkout). Prints what it drops.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

try:
    from lms_opscheck.config.model import Environment
except ImportError:  # checkouts before the lms_opscheck namespace
    from config.model import Environment  # type: ignore[no-redef]


def models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def prune(value: Any, model: type[BaseModel], where: str, dropped: list[str]) -> Any:
    if not isinstance(value, dict):
        return value
    fields = model.model_fields
    names = {f.alias or n: f for n, f in fields.items()} | dict(fields)
    kept: dict[str, Any] = {}
    for key, item in value.items():
        field = names.get(key)
        if field is None:
            dropped.append(f"{where}{key}")
            continue
        nested = models_in(field.annotation)
        if nested and isinstance(item, dict) and typing.get_origin(field.annotation) is not dict:
            item = prune(item, nested[0], f"{where}{key}.", dropped)
        elif nested and isinstance(item, dict):
            item = {k: prune(v, nested[0], f"{where}{key}.{k}.", dropped) for k, v in item.items()}
        elif nested and isinstance(item, list):
            item = [prune(v, nested[0], f"{where}{key}[].", dropped) for v in item]
        kept[key] = item
    return kept


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    dropped: list[str] = []
    data = prune(yaml.safe_load(source.read_text()), Environment, "", dropped)
    target.write_text(yaml.safe_dump(data))
    print("dropped for the baseline:", ", ".join(dropped) or "nothing")
