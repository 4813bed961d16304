"""Lossless codecs for derived arrays in the store (the ``codec`` column of ``arrays``).

``image-up-zlib`` (for uint8 image stacks (..., H, W, C), e.g. the EDG views): every row is
replaced by its difference from the row above, modulo 256 (PNG's "Up" filter: flat backgrounds
and smooth shading become runs of zeros), and the result is deflated (zlib level 3). On rendered
QM9 6-view RGB-D sets this stores ~150 KB instead of 1.2 MB (8× smaller) and encodes in ~9 ms
per set on one core; decoding (inflate, then a running sum down the rows) takes a few ms. PNG
(PIL, level 6) is ~5 % smaller but 3–4× slower to write; plain zlib of the raw bytes is 60 %
larger. Decoding restores the array bit for bit (``tests/store/test_codec.py``).

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
    up = a.copy()
    up[..., 1:, :, :] -= a[..., :-1, :, :]  # uint8 arithmetic wraps modulo 256
    return zlib.compress(up.tobytes(), LEVEL)


def decode(data: bytes, codec: str | None, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The array stored as ``data`` (a new, writable, C-contiguous array)."""
    if codec is None:
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if codec != IMAGE_UP_ZLIB:
        raise StoreError(f"unknown array codec {codec!r}; known: {', '.join(CODECS)}")
    out = np.frombuffer(zlib.decompress(data), dtype=np.uint8).reshape(shape).copy()
    for row in range(1, shape[-3]):  # row by row: far faster than np.cumsum over uint8
        out[..., row, :, :] += out[..., row - 1, :, :]
    return out
