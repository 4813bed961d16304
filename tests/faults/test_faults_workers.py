"""A worker process that dies (SIGKILL as from the OOM killer, a segfault, an exit) fails only
the molecule it was computing, with the reason; the batch goes on and a rerun finishes. Memory
caps (--max-atoms, --max-memory) and non-finite results are recorded failures too. The faults are
injected in the real worker processes through rhoml.store.batch.FAULT_ENV (honoured under
pytest only)."""

from __future__ import annotations

import pytest
from conftest import assert_no_traceback, rows, run

from rhoml.store.batch import FAULT_ENV, MethodSpec, run_batch

FAILED = "SELECT molecule, reason FROM records WHERE status='failed' ORDER BY molecule"


def test_worker_killed_by_sigkill_is_recorded_and_the_batch_goes_on(tmp_path):
    store = tmp_path / "s"
    args = ("density", "compute", "qm9:24", "--method", "xtb", "--workers", "2", "--quiet",
            "--out", store)  # fmt: skip
    res = run(*args, env={FAULT_ENV: "sigkill:qm9_000006"})
    assert res.returncode == 0, res.stderr
    assert_no_traceback(res.stderr)
    assert "23 ok, 1 failed (1 killed their worker)" in res.stdout
    assert rows(store, FAILED) == [
        (5, "qm9_000006: worker process killed by SIGKILL (out of memory? the OOM killer sends it)")
    ]
    again = run(*args, env={FAULT_ENV: "sigkill:qm9_000006"})  # the rerun does not die on it
    assert again.returncode == 0 and "0 ok, 0 failed, 24 already done" in again.stdout
    retry = run(*args, "--retry-failed")  # without the fault it computes
    assert retry.returncode == 0 and "1 ok, 0 failed, 23 already done" in retry.stdout
    assert rows(store, "SELECT COUNT(*) FROM records WHERE status='ok'") == [(24,)]


def test_segfault_and_exit_in_workers(tmp_path, monkeypatch):
    from rhoml.io import read_molecules

    monkeypatch.setenv(FAULT_ENV, "sigsegv:qm9_000003,exit:qm9_000004")
    mols = list(read_molecules("qm9:12"))
    report = run_batch(tmp_path / "s", mols, MethodSpec("xtb"), workers=2, progress=False)
    assert (report.ok, report.failed, report.died) == (10, 2, 2)
    assert dict(report.failures) == {
        2: "qm9_000003: worker process killed by SIGSEGV",
        3: "qm9_000004: worker process exited with code 3",
    }


def test_memory_caps_and_non_finite_results_are_recorded(tmp_path):
    store = tmp_path / "s"
    faults = "alloc:qm9_000002,nan:qm9_000003"
    res = run("density", "compute", "qm9:10", "--method", "xtb", "--workers", "2", "--quiet",
              "--out", store, "--max-atoms", "6", "--max-memory", "2",
              env={FAULT_ENV: faults})  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert_no_traceback(res.stderr)
    reasons = dict(rows(store, FAILED))
    assert reasons.pop(1).startswith("qm9_000002: out of memory (worker memory limit 2 GB)")
    assert reasons.pop(2) == "qm9_000003: xtb: density_matrix contains NaN or Inf"
    from rhoml.io import read_molecules

    big = [i for i, m in enumerate(read_molecules("qm9:10")) if m.n_atoms > 6]
    assert big and sorted(reasons) == big
    for i in big:
        assert reasons[i].endswith("atoms > max_atoms 6") and "skipped" in reasons[i]
    ok = rows(store, "SELECT COUNT(*) FROM records WHERE status='ok'")[0][0]
    assert ok == 10 - 2 - len(big)  # the others computed within the memory limit


@pytest.mark.slow  # about 20 s alone: a Dask cluster and four worker restarts
def test_killed_dask_worker_is_recorded(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from rhoml.io import read_molecules

    monkeypatch.setenv(FAULT_ENV, "sigkill:qm9_000002")
    mols = list(read_molecules("qm9:4"))
    # Dask retries a task on another worker until it has seen allowed-failures (default 3)
    # worker deaths while the task was processing, then raises KilledWorker
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        report = run_batch(tmp_path / "s", mols, MethodSpec("xtb"),
                           scheduler=cluster.scheduler_address, progress=False)  # fmt: skip
    assert (report.ok, report.failed, report.died) == (3, 1, 1)
    assert report.failures == [
        (1, "qm9_000002: worker processes died running it (Dask KilledWorker)")
    ]
