"""Arrow <-> pandas for the Spark engine: the clean records' dtypes on every batch, and
Spark schemas of pandas frames."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = ["arrow_type", "as_dtypes", "batch_of", "frame_of", "spark_schema"]

_ARROW = {"string": pa.string(), "bool": pa.bool_(), "boolean": pa.bool_(), "Int8": pa.int8(), "int8": pa.int8(),
          "Int16": pa.int16(), "int16": pa.int16(), "Int32": pa.int32(), "int32": pa.int32(),
          "Int64": pa.int64(), "int64": pa.int64(), "float64": pa.float64(), "Float64": pa.float64(),
          "object": pa.string()}


def arrow_type(dtype: Any) -> pa.DataType:
    """The Arrow type a column of ``dtype`` travels as (text for anything else).

    >>> str(arrow_type(pd.Int16Dtype())), str(arrow_type("float64"))
    ('int16', 'double')
    """
    return _ARROW.get(str(dtype), pa.string())


def arrow_schema(dtypes: Mapping[str, Any]) -> pa.Schema:
    return pa.schema([(name, arrow_type(dtype)) for name, dtype in dtypes.items()])


def spark_schema(schema: pa.Schema) -> Any:
    """The Spark StructType of an Arrow schema (the types :func:`arrow_type` gives)."""
    from pyspark.sql import types as T

    kinds = {pa.string(): T.StringType(), pa.large_string(): T.StringType(), pa.bool_(): T.BooleanType(),
             pa.int8(): T.ByteType(), pa.int16(): T.ShortType(), pa.int32(): T.IntegerType(),
             pa.int64(): T.LongType(), pa.float64(): T.DoubleType()}
    return T.StructType([T.StructField(f.name, kinds[f.type], True) for f in schema])


def batch_of(frame: pd.DataFrame, schema: pa.Schema) -> pa.RecordBatch:
    """``frame``'s columns of ``schema`` as one record batch of exactly that schema."""
    arrays = []
    for f in schema:
        col = frame[f.name]
        if pa.types.is_string(f.type):
            values = col.astype("string").array
            arrays.append(pa.array(values, type=pa.string()) if len(values) else pa.array([], pa.string()))
        else:
            arrays.append(pa.array(col.to_numpy(dtype=object if col.hasnans else None), type=f.type,
                                   from_pandas=True))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def as_dtypes(frame: pd.DataFrame, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` with the columns named in ``dtypes`` cast to them (text for the others)."""
    return frame.astype({c: dtypes.get(c, "string") for c in frame.columns})


def frame_of(batch: pa.RecordBatch | pa.Table, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """A batch as pandas with ``dtypes`` (nullable integers and ``string`` as the stages
    make them; other columns keep Arrow's conversion)."""
    frame = batch.to_pandas()
    cast = {c: dtypes[c] for c in frame.columns if c in dtypes}
    for c, dtype in list(cast.items()):
        if str(dtype) in ("bool",) and frame[c].isna().any():
            frame[c] = frame[c].fillna(False)
    return frame.astype(cast) if cast else frame


def empty_like(dtypes: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in dtypes.items()})


