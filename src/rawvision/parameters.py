"""One parser for config parameters: strings converted by a dataclass field's type, unknown keys refused.

Triton hands a model its config ``parameters`` as strings; every step (and the specs stored the same
way) reads them through :func:`parse_parameters`, so ``top_kk: 5`` is an error naming the model and
the key rather than a silently ignored line.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _convert_union(text: str, args: tuple[Any, ...]) -> Any:
    if type(None) in args and text.strip() == "":
        return None
    errors = []
    for arg in (a for a in args if a is not type(None)):
        try:
            return convert(text, arg)
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError("; ".join(errors))


def _convert_tuple(text: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    parts = [part.strip() for part in text.split(",")]
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(part, args[0]) for part in parts)
    if len(parts) != len(args):
        raise ValueError(f"expected {len(args)} comma-separated values, got {text!r}")
    return tuple(convert(part, arg) for part, arg in zip(parts, args, strict=True))


def convert(text: str, kind: Any) -> Any:
    """``text`` as a value of type ``kind`` (int, float, bool, str, Literal, tuple, union, optional)."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        return _convert_union(text, args)
    if origin is Literal:
        if text.strip() not in args:
            raise ValueError(f"expected one of {list(args)}, got {text!r}")
        return text.strip()
    if origin is tuple:
        return _convert_tuple(text, args)
    if kind is bool:
        if text.strip().lower() not in _TRUE + _FALSE:
            raise ValueError(f"expected true or false, got {text!r}")
        return text.strip().lower() in _TRUE
    if kind in (int, float):
        return kind(text.strip())
    if kind is str:
        return text.strip()
    raise TypeError(f"no conversion from a config string to {kind!r}")


def parse_parameters(cls: type[T], parameters: Mapping[str, str], model: str) -> T:
    """Build ``cls`` (a dataclass) from string ``parameters``; unknown keys and bad values name the model."""
    fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    refuse_unknown(parameters, model, cls)
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, text in parameters.items():
        try:
            values[name] = convert(text, hints[name])
        except ValueError as exc:
            raise ValueError(f"{model}: config parameter {name}={text!r}: {exc}") from None
    missing = [name for name, field in fields.items() if name not in values
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{model}: config parameter(s) {missing} are missing")
    try:
        return cls(**values)
    except ValueError as exc:
        raise ValueError(f"{model}: {exc}") from None


def refuse_unknown(parameters: Mapping[str, str], model: str, *parts: type) -> None:
    """Refuse keys that none of ``parts`` (the dataclasses one step's parameters are made of) has."""
    known = {field.name for part in parts for field in dataclasses.fields(part)}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"{model}: unknown config parameter(s) {unknown}; this step reads {sorted(known)}")


def parse_known(cls: type[T], parameters: Mapping[str, str], model: str) -> T:
    """:func:`parse_parameters` on the keys ``cls`` has, for a spec that shares its config with others."""
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return parse_parameters(cls, {k: v for k, v in parameters.items() if k in names}, model)
