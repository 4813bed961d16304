"""Density engines behind one interface: ``compute(molecule, engine, **options) -> Density``.

Engines are looked up by name in :data:`ENGINES` (imported lazily, so ``import rhoml`` stays
light). Every engine returns a :class:`~rhoml.density.base.Density`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from rhoml.errors import RhomlError

# name -> "module:function"
ENGINES: dict[str, str] = {
    "promolecule": "rhoml.density.promolecule:compute_promolecule",
    "xtb": "rhoml.density.xtb:compute_xtb",
    "dft": "rhoml.density.dft:compute_dft",
}


def get_engine(name: str) -> Callable:
    """The compute function of engine ``name``."""
    try:
        target = ENGINES[name]
    except KeyError:
        raise RhomlError(
            f"unknown density engine {name!r}; choose from {', '.join(ENGINES)}"
        ) from None
    module, func = target.split(":")
    return getattr(import_module(module), func)


def compute(molecule, engine: str, **options):
    """Compute the density of ``molecule`` with ``engine`` (options go to the engine)."""
    return get_engine(engine)(molecule, **options)


def level_options(engine: str, functional: str | None = None, basis: str | None = None) -> dict:
    """Engine options for a level given on the command line: ``{functional, basis}`` for
    ``dft`` (missing parts default to :class:`rhoml.density.dft.DFTSettings`), ``{}`` otherwise;
    a functional or basis for another engine is an error."""
    if engine == "dft":
        from rhoml.density.dft import DFTSettings

        default = DFTSettings()
        return {"functional": functional or default.functional, "basis": basis or default.basis}
    if functional or basis:
        raise RhomlError(f"--functional/--basis apply to dft, not {engine}")
    return {}
