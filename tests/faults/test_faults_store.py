"""Corruption of a store's file (a flipped bit in a density record or an array) is detected
on read and reported in one line naming the store, record and part; stores written before
checksums stay readable; non-finite values are refused on write."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_no_traceback, run

from rhoml.errors import StoreError
from rhoml.io import read_molecules
from rhoml.store.batch import MethodSpec, run_batch
from rhoml.store.sqlite_store import DB_NAME, Store

POINTS = "points_density"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "s"
    report = run_batch(path, list(read_molecules("qm9:3")), MethodSpec("xtb"), workers=1,
                       progress=False)  # fmt: skip
    assert report.ok == 3
    with Store.open(path) as st:
        st.put_array(2, POINTS, np.linspace(0.1, 1.0, 64, dtype=np.float32), unit="e/bohr^3")
    return path


@pytest.fixture
def store(template, tmp_path):
    """A copy of an xTB store of 3 QM9 molecules with a float32 array on molecule 2."""
    return Path(shutil.copytree(template, tmp_path / "s"))


def _flip_bit(path, blob: bytes, offset: int) -> None:
    """Flip one bit of ``blob`` (found whole in the closed database file) at ``offset``."""
    db = path / DB_NAME
    raw = bytearray(db.read_bytes())
    at = raw.find(blob)
    assert at >= 0 and raw.find(blob, at + 1) < 0, "the blob is stored once, in one page"
    raw[at + offset] ^= 0x10
    db.write_bytes(bytes(raw))


def test_flipped_bit_in_a_density_record_is_one_line(store):
    with Store.open(store, readonly=True) as st:
        blob = st._conn.execute("SELECT data FROM records WHERE molecule=1").fetchone()[0]
        before = st.density(0, "xtb").data
    _flip_bit(store, blob, 37)
    res = run("density", "export-cube", store, "--index", "1", "--out", store.parent / "m.cube")
    assert res.returncode == 2
    assert_no_traceback(res.stderr)
    assert res.stderr.strip() == (
        f"rhoml: error: {store}: xtb record of molecule 1: density_matrix corrupt "
        "(checksum mismatch)"
    )
    with Store.open(store, readonly=True) as st:  # the other records still read, unchanged
        np.testing.assert_array_equal(st.density(0, "xtb").data, before)
        st.density(2, "xtb")


def test_flipped_bit_in_an_array_and_in_properties(store):
    with Store.open(store, readonly=True) as st:
        data = st._conn.execute(f"SELECT data FROM arrays WHERE name='{POINTS}'").fetchone()[0]
        props = st._conn.execute("SELECT properties FROM records WHERE molecule=0").fetchone()[0]
    _flip_bit(store, data, 5)
    with Store.open(store, readonly=True) as st:
        with pytest.raises(StoreError) as err:
            st.get_array(2, POINTS)
    assert (
        str(err.value)
        == f"{store}: array '{POINTS}' of molecule 2: data corrupt (checksum mismatch)"
    )
    digit = props.index(".") + 3  # a digit of the first number
    _flip_bit(store, props.encode()[: digit + 8], digit)
    with Store.open(store, readonly=True) as st:
        with pytest.raises(StoreError, match="xtb record of molecule 0: properties corrupt"):
            list(st.records("xtb"))
        with pytest.raises(StoreError, match="xtb record of molecule 0: properties corrupt"):
            st.density(0, "xtb")


def test_store_without_checksums_reads_unchecked_and_gains_them(store):
    conn = sqlite3.connect(store / DB_NAME)  # the layout before checksums
    conn.execute("ALTER TABLE records DROP COLUMN checksum")
    conn.execute("ALTER TABLE arrays DROP COLUMN checksum")
    conn.commit()
    conn.close()
    with Store.open(store, readonly=True) as st:  # read-only: readable as it is, unchecked
        assert st.density(1, "xtb").electron_count() > 0
        assert st.get_array(2, POINTS).shape == (64,)
    with Store.open(store) as st:  # writable: the column is added, old rows stay unchecked
        st.put_array(1, POINTS, np.ones(8, np.float32), unit="e/bohr^3")
        st.density(1, "xtb")
    conn = sqlite3.connect(store / DB_NAME)
    sums = dict(conn.execute("SELECT molecule, checksum FROM arrays").fetchall())
    conn.close()
    assert sums[2] is None and sums[1] is not None


def test_non_finite_values_are_refused_on_write(store):
    with Store.open(store) as st:
        with pytest.raises(StoreError, match=f"array '{POINTS}' of molecule 0: contains NaN"):
            st.put_array(0, POINTS, np.array([1.0, np.inf], np.float32), unit="e/bohr^3")
        density = st.density(0, "xtb")
        density.data = density.data.copy()
        density.data[0, 0] = np.nan
        with pytest.raises(StoreError, match="xtb record of molecule 0: density_matrix: contains"):
            st.put_density(0, "xtb", density)
        assert np.isfinite(st.density(0, "xtb").data).all()  # the stored record is kept
