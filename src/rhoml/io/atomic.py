"""Writing files safely: a temporary file beside the target, renamed over it when complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rhoml.io import StrPath


def atomic_write(path: StrPath, data: bytes | str) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``: a reader
    (or a crash) never sees a half-written file, and an old file survives a failed write."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
