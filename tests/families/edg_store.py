"""A tiny EDG data set shared by the ImageED and teacher tests: six small molecules with xTB
densities, 32-px density and structural images (rendered as ``rhoml render`` stores them), and
a 2-epoch ImageED run on it. Built once per test session (per xdist worker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rhoml import Molecule

SIZE = 32

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
]  # fmt: skip


def molecules() -> list[Molecule]:
    return [Molecule.from_symbols(s, np.array(p, float), id=f"m{i}")
            for i, (s, p) in enumerate(MOLECULES)]  # fmt: skip


def put_images(st, name: str, preset_name: str, **overrides) -> None:
    """Render every molecule of open store ``st`` with a preset and store the stacks with the
    metadata ``rhoml render`` writes."""
    from rhoml.represent.render import fields_for, image_metadata, preset, render

    cfg = preset(preset_name, **overrides)
    for idx in st.indices():
        item = st.density(idx, "xtb") if cfg.kind == "density" else st.molecule(idx)
        if cfg.kind == "density":
            item = fields_for(item, cfg)
        images = render([item], cfg)[0]
        st.put_array(idx, name, images, unit="dimensionless", preset=preset_name,
                     overrides=overrides, method="xtb" if cfg.kind == "density" else None,
                     esp_method=None, **image_metadata(item, cfg))  # fmt: skip


def edg_store(tmp_path_factory) -> Path:
    """The shared store (built on first use)."""
    from rhoml.density import compute
    from rhoml.store.sqlite_store import Store

    path = tmp_path_factory.getbasetemp() / "edg_store.rhoml"
    if (path / "done").is_file():
        return path
    with Store.create(path) as st:
        mols = molecules()
        for idx, mol in zip(st.add_molecules(mols), mols, strict=True):
            st.put_density(idx, "xtb", compute(mol, "xtb"))
        put_images(st, "edg_density_views", "edg-density", size=SIZE)
        put_images(st, "edg_structure_views", "edg-structure", size=SIZE)
    (path / "done").write_text("")
    return path


IMAGEED_CONFIG = """
family = "imageed"

[data]
store = "{store}"
val_fraction = 0.34

[model]
name = "vit-t-64"

[train]
epochs = 2
batch_size = 2
threads = 1
device = "cpu"
"""


def imageed_run(tmp_path_factory) -> Path:
    """A 2-epoch ImageED run (vit-t-64: the 32-px images are resized to 64) on the store."""
    from rhoml.cli import main

    out = tmp_path_factory.getbasetemp() / "imageed_run"
    if (out / "manifest.json").is_file():
        return out
    cfg = tmp_path_factory.getbasetemp() / "imageed.toml"
    cfg.write_text(IMAGEED_CONFIG.format(store=edg_store(tmp_path_factory)))
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    return out
