"""The packing of per-batch losses into blobs: little-endian float32, optionally zlib-compressed."""

from __future__ import annotations

import sys
import zlib
from array import array
from typing import Iterable

from normlab.experiments.store.schema import StoreError


def encode_losses(values: Iterable[float], *, compress: bool = False) -> tuple[bytes, str, int]:
    """Pack losses as little-endian float32; return ``(data, encoding, count)``.

    Values beyond float32's range become +-inf, as a float32 tensor would hold them.
    """
    arr = array("f", values)
    if sys.byteorder == "big":
        arr.byteswap()
    data = arr.tobytes()
    if compress:
        return zlib.compress(data, 6), "f32le+zlib", len(arr)
    return data, "f32le", len(arr)


def decode_losses(data: bytes, encoding: str, count: int) -> list[float]:
    """Unpack what :func:`encode_losses` packed; a mismatch is a :class:`StoreError`."""
    if encoding == "f32le+zlib":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise StoreError(f"corrupt compressed batch losses: {exc}") from None
    elif encoding != "f32le":
        raise StoreError(f"unknown batch-loss encoding {encoding!r}; known: f32le, f32le+zlib")
    if len(data) != 4 * count:
        raise StoreError(f"batch-loss blob holds {len(data)} bytes, expected {4 * count} bytes for {count} values")
    arr = array("f")
    arr.frombytes(data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tolist()
