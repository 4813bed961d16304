"""Run by tests/families/test_densnet.py under torchrun: a tiny DenSNet training on synthetic
water frames into a run folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rhoml.config import as_dict, load_config  # noqa: E402
from rhoml.families.densnet import DenSNetFamily, train_run  # noqa: E402
from rhoml.families.densnet_train import make_basis  # noqa: E402
from rhoml.train.distributed import init_from_env, is_main_process, shutdown  # noqa: E402
from rhoml.train.run_folder import RunFolder  # noqa: E402


def main(out: str) -> None:
    from densnet_fixtures import water_frames

    assert init_from_env()
    table = {"data": {"store": "unused"},
             "density_net": {"channels": 4, "vectors": 2, "layers": 1},
             "energy_net": {"channels": 4, "vectors": 2, "lmax": 1, "lmax_sh": 1, "layers": 1},
             "train": {"density_epochs": 3, "energy_epochs": 2, "batch_size": 2}}  # fmt: skip
    cfg = load_config(table, DenSNetFamily.sections)
    run = RunFolder.create(out, {"family": "densnet", **as_dict(cfg)}, writer=is_main_process())
    try:
        frames = water_frames(make_basis(cfg["basis"], ["H", "O"]), n=6)
        train_run(cfg, run, frames=frames, progress=False)
    finally:
        shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
