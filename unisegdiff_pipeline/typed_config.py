"""JSON objects read into frozen dataclasses: one parser for the plan and the model record.

Unknown keys, missing required keys and values of the wrong kind are errors that name the key path, the file and the
keys the level knows, so that a misspelled setting never passes unnoticed.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.merge import deep_merge

T = TypeVar("T")
_SCALARS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _fail(where: str, source: str | Path, problem: str, fix: str) -> USDError:
    return USDError(f"{where or 'the top level'} in {source}: {problem}. Fix: {fix}")


def from_dict(cls: type[T], data: Any, source: str | Path, where: str = "", fix: str = "correct the entry") -> T:
    """Parse `data` into the dataclass `cls`; `where` is the key path of `data` (for messages), `source` its file."""
    if not isinstance(data, dict):
        raise _fail(where, source, f"expected a JSON object, found {type(data).__name__}", fix)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise _fail(f"{where}{unknown[0]}", source, f"unknown key (the known keys here are {', '.join(known)})",
                    f"correct its spelling or remove it; {fix}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [k for k in required if k not in data]
    if missing:
        raise _fail(f"{where}{missing[0]}", source, "missing key", f"add it; {fix}")
    hints = typing.get_type_hints(cls)
    values = {k: _convert(hints[k], v, source, f"{where}{k}", fix) for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as e:  # a value outside its choices (the dataclass's own check)
        raise _fail(where.rstrip(".") or cls.__name__, source, str(e), fix) from None


def _convert(tp: Any, value: Any, source: str | Path, where: str, fix: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, source, where, fix) if len(options) == 1 else value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source, where + ".", fix)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _fail(where, source, f"expected a list, found {value!r}", fix)
        inner = args[0] if args else Any
        return tuple(_convert(inner, v, source, f"{where}[{i}]", fix) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, source, f"expected a JSON object, found {value!r}", fix)
        inner = args[1] if len(args) == 2 else Any
        return {k: _convert(inner, v, source, f"{where}.{k}", fix) for k, v in value.items()}
    if tp in _SCALARS:
        ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool)) or \
            (tp is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise _fail(where, source, f"expected {_SCALARS[tp]}, found {value!r}", fix)
        return float(value) if tp is float else value
    return value


def to_dict(obj: Any) -> Any:
    """JSON-ready form of a dataclass (tuples become lists), the inverse of `from_dict`."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def patched(obj: T, changes: dict, source: str, fix: str = "correct the change") -> T:
    """`obj` with the nested `changes` applied, validated like a file: a misspelled key is an error naming `source`."""
    if not changes:
        return obj
    return from_dict(type(obj), deep_merge(to_dict(obj), changes), source, fix=fix)
