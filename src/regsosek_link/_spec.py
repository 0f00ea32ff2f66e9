"""Serialisation of small declarative specs (blocking rules, comparisons) to plain dicts.

A spec is a frozen, keyword-only dataclass. ``to_dict`` writes ``{"type": ClassName, ...fields}``
and ``from_dict`` reads it back, so specs round-trip through JSON, YAML and TOML config files.

The library's own specs are named by their class name. A spec class defined elsewhere (a
custom comparison, see :mod:`regsosek_link.extend`) is named by its import path,
``"package.module:ClassName"``, which ``from_dict`` imports: such a spec round-trips through
a config file and a model file in any process that can import the module, with no call to
register it first.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")

_REGISTRY: dict[str, dict[str, type]] = {}


def register(kind: str):
    """Class decorator registering a spec class under ``kind`` (e.g. ``"comparison"``)."""

    def deco(cls: type[T]) -> type[T]:
        _REGISTRY.setdefault(kind, {})[cls.__name__] = cls
        return cls

    return deco


def type_name(cls: type) -> str:
    """The name a spec class is written under: its class name if it is one of the library's
    (registered) specs, else its import path ``module:QualifiedName``.

    >>> import collections
    >>> type_name(collections.OrderedDict)
    'collections:OrderedDict'
    """
    for known in _REGISTRY.values():
        if known.get(cls.__name__) is cls:
            return cls.__name__
    return f"{cls.__module__}:{cls.__qualname__}"


def import_object(path: str, *, what: str) -> Any:
    """The object an import path ``package.module:name`` (or ``...:Outer.name``) names.

    Raises
    ------
    ConfigError
        The module cannot be imported or has no such name; the message says which.

    >>> import_object("collections:OrderedDict", what="example").__name__
    'OrderedDict'
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{what} {path!r}: an import path is written 'package.module:name'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {path!r}: cannot import module {module_name!r} ({exc}); "
                          "install it or put it on PYTHONPATH") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what} {path!r}: module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def to_dict(spec: Any) -> dict[str, Any]:
    """Plain-dict form of a spec (tuples become lists), named by :func:`type_name`."""
    out: dict[str, Any] = {"type": type_name(type(spec))}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if value == f.default:
            continue
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def from_dict(kind: str, data: Any) -> Any:
    """Build a registered spec of ``kind`` from its dict form (or return a spec unchanged)."""
    known = _REGISTRY.get(kind, {})
    if not isinstance(data, dict):
        if type(data).__name__ in known or (dataclasses.is_dataclass(data) and not isinstance(data, type)):
            return data
        raise ConfigError(f"a {kind} must be a mapping with a 'type' key; got {data!r}")
    data = dict(data)
    name = data.pop("type", None)
    if isinstance(name, str) and ":" in name:
        cls = import_object(name, what=kind)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ConfigError(f"{kind} type {name!r} is not a dataclass (a spec is a frozen, keyword-only "
                              "dataclass)")
    elif name not in known:
        raise ConfigError(
            f"unknown {kind} type {name!r}; known types: {', '.join(sorted(known))}, "
            "or an import path 'package.module:ClassName'"
        )
    else:
        cls = known[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"{kind} {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are: {', '.join(sorted(fields))}"
        )
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{kind} {name!r}: {exc}") from exc
