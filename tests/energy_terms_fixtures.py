"""A tiny stand-in for the energy-term data set, shared by the family and study tests: eight small
molecules with B3LYP/STO-3G records (grid level 1, seconds in all), density point clouds (``rhoml
points``), 32-px density images (``rhoml render``), made with the commands a user runs. Built once
per test session (per xdist worker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rhoml import Molecule

#: the DFT engine options of the stand-in records
LEVEL = {"functional": "B3LYP", "basis": "sto-3g", "grid_level": 1, "conv_tol": 1e-7}
#: image array of the stand-in (``rhoml render --name s32``)
IMAGES = "edg_density_views/s32"

MOLECULES = [
    (["O", "H", "H"], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]]),
    (["H", "F"], [[0, 0, 0], [0, 0, 0.92]]),
    (["C", "H", "H", "H", "H"],
     [[0, 0, 0], [0.629, 0.629, 0.629], [-0.629, -0.629, 0.629], [-0.629, 0.629, -0.629],
      [0.629, -0.629, -0.629]]),
    (["N", "H", "H", "H"], [[0, 0, 0.1], [0, 0.94, -0.27], [0.81, -0.47, -0.27],
                            [-0.81, -0.47, -0.27]]),
    (["C", "O"], [[0, 0, 0], [0, 0, 1.128]]),
    (["C", "O", "H", "H"], [[0, 0, -0.53], [0, 0, 0.67], [0, 0.94, -1.11], [0, -0.94, -1.11]]),
    (["N", "N"], [[0, 0, 0], [0, 0, 1.098]]),
    (["F", "F"], [[0, 0, 0], [0, 0, 1.412]]),
]  # fmt: skip


def molecules() -> list[Molecule]:
    return [Molecule.from_symbols(s, np.array(p, float), id=f"t{i}")
            for i, (s, p) in enumerate(MOLECULES)]  # fmt: skip


def terms_store(tmp_path_factory) -> Path:
    """The shared store (built on first use): DFT records, point clouds, images."""
    from rhoml.cli import main
    from rhoml.store.batch import MethodSpec, run_batch

    path = tmp_path_factory.getbasetemp() / "energy_terms_store.rhoml"
    if (path / "done").is_file():
        return path
    run_batch(path, molecules(), MethodSpec("dft", dict(LEVEL)), workers=1, progress=False)
    assert main(["points", str(path), "--n", "48", "--spacing", "0.4", "--workers", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert main(["render", str(path), "--preset", "edg-density", "--set", "size=32", "--name",
                 "s32", "--workers", "1", "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    (path / "done").write_text("")
    return path
