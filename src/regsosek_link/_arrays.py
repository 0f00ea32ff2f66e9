"""Small numpy helpers shared by the stages."""

from __future__ import annotations

import numpy as np


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
