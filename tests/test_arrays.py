"""The numpy helpers the stages share give exactly what plain numpy gives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from regsosek_link._arrays import stable_argsort

_DTYPES = st.sampled_from([np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint32, np.uint64,
                           np.float32, np.float64])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_stable_argsort_is_numpys_stable_argsort(data: st.DataObject) -> None:
    dtype = data.draw(_DTYPES)
    # few distinct values (many ties), or the dtype's whole range (keys too wide to pack)
    narrow = data.draw(st.booleans())
    if np.dtype(dtype).kind == "f":
        elements = (st.sampled_from([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan]) if narrow
                    else st.floats(width=np.dtype(dtype).itemsize * 8))
    elif np.dtype(dtype).kind == "b" or narrow:
        elements = st.sampled_from([0, 1]) if np.dtype(dtype).kind in "bu" else st.integers(-3, 3)
    else:
        elements = None
    a = data.draw(hnp.arrays(dtype, st.integers(0, 300), elements=elements))
    assert stable_argsort(a).tolist() == np.argsort(a, kind="stable").tolist()
    if np.dtype(dtype).kind == "f":
        expected = np.argsort(-a, kind="stable")
    else:  # (largest first, ties in position order, without negating: unsigned and minimum values)
        expected = np.lexsort((np.arange(len(a)), (a.astype(object) * -1) if len(a) else a))
    assert stable_argsort(a, descending=True).tolist() == expected.tolist()


@pytest.mark.parametrize("n", [2, 1000, 300_000])
def test_stable_argsort_of_many_ties_and_wide_values(n: int) -> None:
    rng = np.random.default_rng(n)
    for a in (rng.integers(0, 5, n), rng.integers(-2**40, 2**40, n), rng.choice(rng.random(50), n),
              rng.integers(0, 2**62, n).astype(np.uint64) * 3):
        got = stable_argsort(a)
        assert got.dtype == np.int64
        assert np.array_equal(got, np.argsort(a, kind="stable"))
    p = rng.choice(rng.random(50), n)
    assert np.array_equal(stable_argsort(p, descending=True), np.argsort(-p, kind="stable"))
