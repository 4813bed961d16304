"""A study run's folder and its ``result.json``, the file that marks the run finished (shared by
the resumable run-folder studies: :mod:`rhoml.studies.edg`, :mod:`rhoml.studies.energy_terms`)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ResultFolder"]


class ResultFolder:
    """Mixin for a study-run dataclass with a ``folder`` (:class:`~pathlib.Path`) field."""

    folder: Path

    @property
    def done(self) -> bool:
        """True once the run wrote ``folder/result.json``."""
        return (self.folder / "result.json").is_file()

    def result(self) -> dict | None:
        """The run's ``result.json``, or None while it is not finished."""
        p = self.folder / "result.json"
        return json.loads(p.read_text()) if p.is_file() else None
