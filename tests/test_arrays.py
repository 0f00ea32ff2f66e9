"""The numpy helpers the stages share give exactly what plain numpy (and hashlib) give."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from regsosek_link._arrays import factorize_sorted, stable_argsort
from regsosek_link._sha1 import sha1_digests

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
    # unsigned values past int64, a narrow range of them (hypothesis found the overflow)
    big = np.uint64(2**63) + rng.integers(0, 3, n).astype(np.uint64)
    assert np.array_equal(stable_argsort(big), np.argsort(big, kind="stable"))
    codes, values = factorize_sorted(big)
    expected_codes, expected_values = pd.factorize(big, sort=True)
    assert codes.tolist() == expected_codes.tolist() and values.tolist() == expected_values.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=70), st.binary(max_size=200)), max_size=40))
def test_sha1_digests_are_hashlibs(keys: list) -> None:
    # every length around the block boundaries (55/56 and 119/120 bytes), empty keys, non-ASCII text
    keys = keys + ["x" * k for k in (0, 55, 56, 63, 64, 119, 120, 300)]
    data = [k.encode() if isinstance(k, str) else k for k in keys]
    got = sha1_digests(pa.array(data, pa.binary()))
    assert [bytes(d) for d in got] == [hashlib.sha1(d).digest() for d in data]
    # a sliced string array (an offset into its buffers)
    text = pa.array(["a", "siak|1", "dtks|99"], pa.string())[1:]
    assert [bytes(d) for d in sha1_digests(text)] == [hashlib.sha1(b"siak|1").digest(), hashlib.sha1(b"dtks|99").digest()]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_factorize_sorted_is_pandas_sorted_factorize(data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from([np.int8, np.int32, np.int64, np.uint64]))
    elements = st.integers(-3, 3) if np.dtype(dtype).kind == "i" and data.draw(st.booleans()) else None
    a = data.draw(hnp.arrays(dtype, st.integers(0, 200), elements=elements))
    codes, values = factorize_sorted(a)
    expected_codes, expected_values = pd.factorize(a, sort=True)
    assert codes.tolist() == expected_codes.tolist()
    assert values.tolist() == np.asarray(expected_values).tolist()
