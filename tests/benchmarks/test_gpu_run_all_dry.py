"""benchmarks/gpu/run_all.py --dry-run: the GPU run's code path on the CPU at tiny sizes, so the
script is not broken when a GPU is lent (every step passes; results written with the device)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu" / "run_all.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_run_all", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dry_run_passes_every_step_and_writes_results(tmp_path):
    mod = _module()
    assert mod.main(["--dry-run", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "run_all.json").read_text())
    assert report["device"] == "cpu" and report["device_name"] == "cpu (dry run)"
    names = [name for name, _ in mod.STEPS]
    assert list(report["steps"]) == names
    for name, step in report["steps"].items():
        # the student family needs torch_geometric (optional): skipped without it
        assert step["status"] == "ok" or (name == "smoke student" and step["status"] == "skipped")
    for key in ("atoms_voxels_per_s", "images_per_s", "md_steps_per_s", "samples_per_s"):
        assert report["throughput"][key] > 0
    assert (tmp_path / "run_all.md").read_text().startswith("# GPU run: cpu (dry run)")


def test_a_failing_step_is_recorded_and_the_rest_go_on(tmp_path, monkeypatch):
    mod = _module()

    def broken(_ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(mod, "STEPS", [("broken", broken), mod.STEPS[-2]])
    assert mod.main(["--dry-run", "--out", str(tmp_path)]) == 1
    report = json.loads((tmp_path / "run_all.json").read_text())
    assert report["steps"]["broken"]["status"] == "failed"
    assert "boom" in report["steps"]["broken"]["error"]
    assert report["steps"]["throughput train"]["status"] == "ok"


def test_no_cuda_is_refused_without_dry_run(capsys):
    import torch

    if torch.cuda.is_available():
        return
    assert _module().main([]) == 2
    assert "--dry-run" in capsys.readouterr().err
