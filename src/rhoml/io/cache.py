"""The user cache folder of rhoml: ``$RHOML_CACHE_DIR``, else ``$XDG_CACHE_HOME/rhoml``, else
``~/.cache/rhoml`` (parsed data sets, teacher features computed once per data set)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("RHOML_CACHE_DIR"):
        return Path(os.environ["RHOML_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rhoml"
