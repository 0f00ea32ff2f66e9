"""Serialisation of small declarative specs (blocking rules, comparisons) to plain dicts.

A spec is a frozen, keyword-only dataclass. ``to_dict`` writes ``{"type": ClassName, ...fields}``
and ``from_dict`` reads it back, so specs round-trip through JSON, YAML and TOML config files.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")

_REGISTRY: dict[str, dict[str, type]] = {}


def register(kind: str):  # noqa: ANN201 - decorator
    """Class decorator registering a spec class under ``kind`` (e.g. ``"comparison"``)."""

    def deco(cls: type[T]) -> type[T]:
        _REGISTRY.setdefault(kind, {})[cls.__name__] = cls
        return cls

    return deco


def to_dict(spec: Any) -> dict[str, Any]:
    """Plain-dict form of a registered spec (tuples become lists)."""
    out: dict[str, Any] = {"type": type(spec).__name__}
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
        if type(data).__name__ in known:
            return data
        raise ConfigError(f"a {kind} must be a mapping with a 'type' key; got {data!r}")
    data = dict(data)
    name = data.pop("type", None)
    if name not in known:
        raise ConfigError(
            f"unknown {kind} type {name!r}; known types: {', '.join(sorted(known))}"
        )
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
