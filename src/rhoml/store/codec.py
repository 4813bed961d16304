"""Lossless codecs for derived arrays in the store (the ``codec`` column of ``arrays``).

``image-up-zlib`` (for uint8 image stacks (..., H, W, C), e.g. the EDG views): channels are moved
in front of the rows (planar layout), each column is replaced by its differences down the rows
modulo 256 (PNG's "Up" filter: flat backgrounds and smooth shading become runs of zeros), and
the result is deflated (zlib level 3). On rendered QM9 6-view RGB-D sets this stores ~155 KB
instead of 1.2 MB (7.8× smaller), encodes in ~9 ms and decodes in ~6 ms per set on one core;
PNG (PIL, level 6) is ~9 % smaller but 3–4× slower to write. Decoding restores the array bit for
bit (``tests/store/test_codec.py``).

A row without a codec holds the raw ``tobytes()`` of the array.
"""

from __future__ import annotations

import zlib

import numpy as np

from rhoml.errors import StoreError

IMAGE_UP_ZLIB = "image-up-zlib"
CODECS = (IMAGE_UP_ZLIB,)
LEVEL = 3


def encode(array: np.ndarray, codec: str | None) -> bytes:
    """The bytes stored for ``array`` under ``codec`` (None: raw)."""
    a = np.ascontiguousarray(array)
    if codec is None:
        return a.tobytes()
    if codec != IMAGE_UP_ZLIB:
        raise StoreError(f"unknown array codec {codec!r}; known: {', '.join(CODECS)}")
    if a.dtype != np.uint8 or a.ndim < 3:
        raise StoreError(f"codec {codec} needs uint8 (..., H, W, C), got {a.dtype} {a.shape}")
    planar = np.moveaxis(a, -1, -3)  # (..., C, H, W)
    up = planar.copy()
    up[..., 1:, :] -= planar[..., :-1, :]  # uint8 arithmetic wraps modulo 256
    return zlib.compress(up.tobytes(), LEVEL)


def decode(data: bytes, codec: str | None, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The array stored as ``data`` (a new, writable, C-contiguous array)."""
    if codec is None:
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if codec != IMAGE_UP_ZLIB:
        raise StoreError(f"unknown array codec {codec!r}; known: {', '.join(CODECS)}")
    *lead, h, w, c = shape
    up = np.frombuffer(zlib.decompress(data), dtype=np.uint8).reshape(*lead, c, h, w)
    planar = np.cumsum(up, axis=-2, dtype=np.uint8)
    return np.ascontiguousarray(np.moveaxis(planar, -3, -1))
