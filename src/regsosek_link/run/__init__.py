"""The composer: a full run, an update, a re-link, a withdrawal and an export, all through
one pipeline of public stage functions (:mod:`regsosek_link.run._core`)."""

from __future__ import annotations

from ._core import NoCandidatePairsWarning
from .linker import Linker, export, link
from .result import LinkResult

__all__ = ["LinkResult", "Linker", "NoCandidatePairsWarning", "export", "link"]
