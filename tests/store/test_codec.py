"""Lossless array codecs (rhoml.store.codec) and compressed arrays in the store: bit-exact round
trips, checksums over the stored bytes, refusal of unknown codecs and of non-image arrays, and
stores from before the codec column."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.errors import StoreError
from rhoml.store import codec
from rhoml.store.sqlite_store import DB_NAME, Store


def _images(seed=0, shape=(6, 40, 48, 4)):
    """Image-like uint8 stacks: flat background, a smooth blob, noise, wrap-around edges."""
    rng = np.random.default_rng(seed)
    a = np.full(shape, 255, np.uint8)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    blob = ((yy - 20) ** 2 + (xx - 24) ** 2) < 150
    a[:, blob, :] = (rng.integers(0, 256, (shape[0], int(blob.sum()), shape[3]))).astype(np.uint8)
    a[:, 0, :, 0] = 0  # 0 below 255: the Up filter wraps modulo 256
    return a


@pytest.mark.parametrize("shape", [(6, 40, 48, 4), (4, 17, 9, 3), (5, 6, 2)])
def test_round_trip_is_bit_exact(shape):
    a = _images(1, shape) if len(shape) == 4 else np.random.default_rng(2).integers(
        0, 256, shape, dtype=np.uint8)  # fmt: skip
    data = codec.encode(a, codec.IMAGE_UP_ZLIB)
    back = codec.decode(data, codec.IMAGE_UP_ZLIB, np.dtype(np.uint8), a.shape)
    assert back.dtype == np.uint8 and back.flags.c_contiguous and back.flags.writeable
    np.testing.assert_array_equal(back, a)
    raw = codec.decode(codec.encode(a, None), None, np.dtype(np.uint8), a.shape)
    np.testing.assert_array_equal(raw, a)


def test_unknown_codec_and_non_images_are_refused():
    with pytest.raises(StoreError, match="unknown array codec"):
        codec.encode(np.zeros((2, 3, 4, 3), np.uint8), "lz4")
    with pytest.raises(StoreError, match="needs uint8"):
        codec.encode(np.zeros((2, 3, 4, 3), np.float32), codec.IMAGE_UP_ZLIB)


def _store(tmp_path):
    st = Store.create(tmp_path / "s.rhoml")
    st.add_molecules([Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="h2")])
    return st


def test_compressed_images_in_the_store(tmp_path):
    a = _images(3, (6, 32, 32, 4))
    with _store(tmp_path) as st:
        st.put_array(0, "edg_density_views", a, codec=codec.IMAGE_UP_ZLIB, preset="x")
        st.put_array(0, "edg_density_views/raw", a)
        np.testing.assert_array_equal(st.get_array(0, "edg_density_views"), a)
        np.testing.assert_array_equal(st.get_array(0, "edg_density_views/raw"), a)
        assert st.array_meta(0, "edg_density_views")["preset"] == "x"
        with pytest.raises(StoreError, match="needs uint8"):
            st.put_array(0, "points_xyz", np.zeros((5, 3), np.float32), unit="angstrom",
                         codec=codec.IMAGE_UP_ZLIB)  # fmt: skip
    db = sqlite3.connect(tmp_path / "s.rhoml" / DB_NAME)
    sizes = dict(db.execute("SELECT name, length(data) FROM arrays").fetchall())
    assert sizes["edg_density_views"] < sizes["edg_density_views/raw"] == a.nbytes
    blob = db.execute("SELECT data FROM arrays WHERE name='edg_density_views'").fetchone()[0]
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0xFF
    with db:
        db.execute("UPDATE arrays SET data=? WHERE name='edg_density_views'", (bytes(bad),))
    db.close()
    with (
        Store.open(tmp_path / "s.rhoml", readonly=True) as st,
        pytest.raises(StoreError, match="checksum mismatch"),
    ):
        st.get_array(0, "edg_density_views")


def test_store_from_before_the_codec_column(tmp_path):
    a = _images(4, (2, 8, 8, 4))
    with _store(tmp_path) as st:
        st.put_array(0, "edg_density_views", a)
    db = sqlite3.connect(tmp_path / "s.rhoml" / DB_NAME)
    with db:
        db.execute("ALTER TABLE arrays DROP COLUMN codec")
    db.close()
    with Store.open(tmp_path / "s.rhoml", readonly=True) as st:  # read-only: no column
        np.testing.assert_array_equal(st.get_array(0, "edg_density_views"), a)
    with Store.open(tmp_path / "s.rhoml") as st:  # writable: the column is added
        st.put_array(0, "edg_density_views/c", a, codec=codec.IMAGE_UP_ZLIB)
        np.testing.assert_array_equal(st.get_array(0, "edg_density_views/c"), a)
        np.testing.assert_array_equal(st.get_array(0, "edg_density_views"), a)
