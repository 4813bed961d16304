"""Run by test_train_ddp under torchrun: a tiny DenSNet training on synthetic water frames."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rhoml.densnet.train import TrainConfig, make_basis, run_training  # noqa: E402
from rhoml.molecule import Molecule  # noqa: E402
from rhoml.train.distributed import init_from_env, shutdown  # noqa: E402


def main(out: str) -> None:
    from densnet.test_train import _water_frames

    assert init_from_env()
    water = Molecule(
        np.array([8, 1, 1]), np.array([[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]])
    )
    cfg = TrainConfig(store="unused", output=out, density_epochs=3, energy_epochs=2,
                      batch_size=2, density_net={"channels": 4, "vectors": 2, "layers": 1},
                      energy_net={"channels": 4, "vectors": 2, "lmax": 1, "lmax_sh": 1,
                                  "layers": 1})  # fmt: skip
    try:
        run_training(cfg, frames=_water_frames(water, make_basis(cfg, ["H", "O"]), n=6),
                     log=lambda s: None)  # fmt: skip
    finally:
        shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
