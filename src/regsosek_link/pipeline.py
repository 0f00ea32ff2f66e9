"""Former home of the pipeline, kept so that ``regsosek_link.pipeline.Linker`` imports go on
working: the composer now lives in :mod:`regsosek_link.run`."""

from __future__ import annotations

from .run import Linker, LinkResult, link

__all__ = ["LinkResult", "Linker", "link"]
