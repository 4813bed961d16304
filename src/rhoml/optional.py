"""Optional dependencies: what each extra of the package installs, and one way to ask for one.

Installing ``rhoml`` gives everything ``rhoml demo`` and the density engines need. Some commands
need more; each extra installs what one of them needs:

* ``dask``: ``--scheduler`` (Dask distributed instead of local processes);
* ``fast``: numba, the compiled CPU voxel kernels (without it the voxeliser uses its torch path,
  silently: same values, slower);
* ``gpu``: GPU4PySCF for DFT on a CUDA GPU;
* ``reference``: the tools the benchmarks compare against (PyMOL, scikit-image);
* ``all``: ``dask``, ``fast`` and ``reference``; ``test``: the test tools and the extras the test
  suite exercises.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rhoml.errors import RhomlError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise :class:`RhomlError` with the command that installs it.

    >>> require("json", "none", "this").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise RhomlError(f"{what} needs {package}: pip install 'rhoml[{extra}]'") from None
