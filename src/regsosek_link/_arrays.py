"""Small numpy helpers shared by the stages."""

from __future__ import annotations

import numpy as np

#: ``None`` as a 0-d object array, the missing value of ``np.where(mask, NONE, values)``
#: (the same object array as with a bare ``None``, which numpy's type stubs do not accept).
NONE = np.array(None, dtype=object)


def unique_int(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array, by sorting.

    ``np.unique`` without ``return_*`` takes a hash-table path in numpy >= 2.3 that is
    pathologically slow on large int64 arrays (27 s for 10 M values here, against 1.7 s for
    a sort), and pair codes are exactly that.

    >>> unique_int(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    a = np.sort(np.asarray(a), kind="stable" if a.dtype.kind not in "iu" else None)
    if len(a) == 0:
        return a
    return a[np.r_[True, a[1:] != a[:-1]]]


#: Number of set bits of each byte value, for :func:`bitwise_count` without NumPy 2.
_BITS_OF_BYTE = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)


def bitwise_count(a: np.ndarray) -> np.ndarray:
    """Number of set bits of each element of an unsigned integer array.

    ``np.bitwise_count`` (NumPy >= 2); on NumPy 1.26, the same from a per-byte table.

    >>> bitwise_count(np.array([0, 1, 0xFF, 2**63 + 1], np.uint64)).tolist()
    [0, 1, 8, 2]
    >>> _bitwise_count_bytes(np.array([[0, 7], [0x1111_1111, 3]], np.uint32)).tolist()
    [[0, 3], [8, 2]]
    """
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(a)
    return _bitwise_count_bytes(a)


def _bitwise_count_bytes(a: np.ndarray) -> np.ndarray:
    """:func:`bitwise_count` by looking up each byte (NumPy 1.26 has no popcount)."""
    a = np.ascontiguousarray(a)
    per_byte = _BITS_OF_BYTE[a.view(np.uint8)].reshape(a.shape + (a.dtype.itemsize,))
    return per_byte.sum(axis=-1, dtype=np.uint8)
