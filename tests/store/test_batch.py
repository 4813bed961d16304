"""Batch generation: failures recorded, resume after a kill, the Dask LocalCluster path."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.io.xyz import write_xyz
from rhoml.store.batch import MethodSpec, run_batch
from rhoml.store.sqlite_store import Store

SPEC = MethodSpec("dft", {"functional": "PBE", "basis": "sto-3g"})


def _h2_chain(n):
    return [
        Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.70 + 0.005 * k]], id=f"h2-{k}")
        for k in range(n)
    ]


def test_failures_are_recorded_and_batch_goes_on(tmp_path):
    mols = _h2_chain(2) + [
        Molecule.from_symbols(["O", "O"], [[0, 0, 0], [0, 0, 1.2]], id="o2-diverges")
    ]
    spec = MethodSpec("dft", {"basis": "sto-3g", "max_cycle": 2})
    report = run_batch(tmp_path / "s", mols, spec, workers=1, progress=False)
    assert report.ok + report.failed == 3 and report.failed >= 1
    with Store.open(tmp_path / "s") as st:
        reasons = [r for _, _, r in st.failures()]
    assert any("o2-diverges: SCF not converged" in r for r in reasons)
    again = run_batch(tmp_path / "s", mols, spec, workers=1, progress=False)
    assert again.submitted == 0 and again.skipped == 3


def test_resume_after_kill_recomputes_nothing_finished(tmp_path):
    mols = _h2_chain(40)
    xyz = tmp_path / "chain.xyz"
    write_xyz(xyz, mols)
    store = tmp_path / "s"
    cmd = [sys.executable, "-m", "rhoml.cli", "density", "compute", str(xyz), "--method", "dft",
           "--functional", "PBE", "--basis", "sto-3g", "--out", str(store), "--workers", "1",
           "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    done_before = 0
    while time.time() < deadline:
        time.sleep(0.3)
        if (store / "rhoml.sqlite").exists():
            try:
                with Store.open(store, readonly=True) as st:
                    done_before = len(st.finished(SPEC.key))
            except Exception:
                continue
            if done_before >= 3:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store.open(store, readonly=True) as st:
        kept = st.finished(SPEC.key)
        energies_before = {i: st.density(i, SPEC.key).properties["energy"] for i in kept}
    assert 3 <= len(kept) < 40, "kill the batch halfway"
    report = run_batch(store, mols, SPEC, workers=1, progress=False)
    assert report.skipped == len(kept)
    assert report.ok == 40 - len(kept)
    with Store.open(store, readonly=True) as st:
        assert len(st.finished(SPEC.key, include_failed=False)) == 40
        for i, e in energies_before.items():
            assert st.density(i, SPEC.key).properties["energy"] == e


def test_dask_local_cluster_path(tmp_path):
    distributed = pytest.importorskip("distributed")
    mols = _h2_chain(4)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        report = run_batch(
            tmp_path / "s", mols, SPEC, scheduler=cluster.scheduler_address, progress=False
        )
    assert report.ok == 4 and report.failed == 0
    local = run_batch(tmp_path / "p", mols, SPEC, workers=2, progress=False)
    assert local.ok == 4
    with Store.open(tmp_path / "s") as a, Store.open(tmp_path / "p") as b:
        for i in range(4):
            np.testing.assert_allclose(a.density(i, SPEC.key).data, b.density(i, SPEC.key).data,
                                       atol=1e-8)  # fmt: skip


def test_fit_records_are_stored_beside_the_density(tmp_path):
    spec = MethodSpec("dft", {"basis": "sto-3g"}, fit_auxbasis="def2-universal-jkfit")
    run_batch(tmp_path / "s", _h2_chain(1), spec, workers=1, progress=False)
    with Store.open(tmp_path / "s") as st:
        fit = st.density(0, spec.fit_key)
    assert fit.kind == "coefficients"
    assert fit.electron_count() == pytest.approx(2.0, abs=1e-8)
