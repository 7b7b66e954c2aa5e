"""Arrow tables shaped exactly like the catalog: every column, in catalog order, OpenDental's names.

Arrow types by ``Column.kind``: int -> int64, float -> float64, str -> string, date -> date32,
datetime/timestamp -> timestamp('s') (naive), time -> string ``HH:MM:SS``. A column the generator does
not set gets OpenDental's NOT NULL default: 0, '', 0001-01-01, 0001-01-01 00:00:00, 00:00:00.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from dental_assets.catalog import Table

from .util import DAY, ZERO_DAY, ZERO_TS, dense_codes

ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
    "timestamp": pa.timestamp("s"),
    "time": pa.string(),
}


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a generated table."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind]) for c in table.columns])


def strings(values: Sequence[str], index: np.ndarray) -> pa.Array:
    """``values[index]`` as an Arrow string array (fast for repeated values)."""
    return pa.array(list(values), type=pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def constant_string(value: str, n: int) -> pa.Array:
    """``n`` copies of ``value``. The empty string, most columns' default, shares its (all zero)
    offsets with every other constant column (``constant_array``)."""
    if value == "":
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(constant_array(0, n + 1, np.int32)),
                                                      pa.py_buffer(b"")])
    return pa.repeat(pa.scalar(value, type=pa.string()), n)


# one read-only buffer per (dtype, value), held weakly: the tables' constant columns are views of it
_CONSTANTS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def constant_array(value, n: int, dtype) -> np.ndarray:
    """A read-only array of ``n`` copies of ``value``: a view of one buffer shared by every constant
    column of that type and value (OpenDental's defaults 0, '' and 0001-01-01 fill most columns, which
    at 100,000 patients would take about a gigabyte as separate arrays). The buffer lives as long as an
    array uses it."""
    key = (np.dtype(dtype).str, value)
    base = _CONSTANTS.get(key)
    if base is None or len(base) < n:
        base = np.full(max(n, 1024), value, dtype=dtype)
        base.flags.writeable = False
        _CONSTANTS[key] = base
    return base[:n]


def format_times(seconds: np.ndarray) -> pa.Array:
    """Seconds into the day -> ``HH:MM:SS`` strings."""
    seconds = np.asarray(seconds, dtype=np.int64)
    uniq, inverse = dense_codes(seconds, DAY)
    text = [f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in uniq.tolist()]
    return strings(text, inverse)


def _as_string_array(value, n: int, name: str) -> pa.Array:
    if isinstance(value, str):
        return constant_string(value, n)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        arr = value if value.type == pa.string() else value.cast(pa.string())
    else:
        arr = pa.array(list(value) if not isinstance(value, np.ndarray) else value, type=pa.string())
    if arr.null_count:
        raise ValueError(f"string column {name} has {arr.null_count} missing values")
    return arr


def _as_numpy(value, n: int, dtype, name: str) -> np.ndarray:
    if np.isscalar(value):
        return constant_array(value, n, dtype)
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise ValueError(f"column {name} has shape {arr.shape}, expected ({n},)")
    if dtype is np.int64 and arr.dtype.kind == "f":
        raise TypeError(f"integer column {name} was given floats")
    return arr.astype(dtype, copy=False)


def append_rows(tables: dict[str, pa.Table], name: str, n: int, values: Mapping[str, object]) -> pa.Table:
    """Append ``n`` rows to ``tables[name]`` (an already built raw table: a later stage adding rows to an
    earlier stage's table) and return the new table. ``values`` as for ``build_table``: columns not
    given get OpenDental's defaults. Raises KeyError for a column the table does not have."""
    from dental_assets.catalog import raw_table

    tables[name] = pa.concat_tables([tables[name], build_table(raw_table(name), n, values)])
    return tables[name]


def build_table(table: Table, n: int, values: Mapping[str, object]) -> pa.Table:
    """An Arrow table of ``n`` rows for ``table`` from ``values`` (column name -> scalar or array).

    Integers and floats come as numpy arrays or scalars; dates as day numbers; datetimes and timestamps
    as seconds since the epoch; times as seconds into the day or ``HH:MM:SS`` strings; strings as
    sequences, numpy arrays or Arrow arrays. Raises KeyError for a name the table does not have.
    """
    known = set(table.column_names)
    unknown = [name for name in values if name not in known]
    if unknown:
        raise KeyError(f"table {table.name} has no columns {sorted(unknown)}")
    arrays = []
    for col in table.columns:
        value = values.get(col.name)
        kind = col.kind
        if kind == "int":
            arrays.append(pa.array(_as_numpy(0 if value is None else value, n, np.int64, col.name)))
        elif kind == "float":
            arrays.append(pa.array(_as_numpy(0.0 if value is None else value, n, np.float64, col.name)))
        elif kind == "str":
            arrays.append(_as_string_array("" if value is None else value, n, col.name))
        elif kind == "date":
            value = ZERO_DAY if value is None else value
            days = constant_array(value, n, np.int32) if np.isscalar(value) else _as_numpy(
                value, n, np.int64, col.name).astype(np.int32)
            arrays.append(pa.array(days, type=pa.date32()))
        elif kind in ("datetime", "timestamp"):
            secs = _as_numpy(ZERO_TS if value is None else value, n, np.int64, col.name)
            arrays.append(pa.array(secs, type=pa.timestamp("s")))
        elif kind == "time":
            if value is None:
                arrays.append(constant_string("00:00:00", n))
            elif isinstance(value, (str, pa.Array)):
                arrays.append(_as_string_array(value, n, col.name))
            else:
                arrays.append(format_times(_as_numpy(value, n, np.int64, col.name) % DAY))
        else:  # pragma: no cover - the catalog has no other kinds
            raise ValueError(f"unknown column kind {kind} for {table.name}.{col.name}")
        if len(arrays[-1]) != n:
            raise ValueError(f"column {table.name}.{col.name} has {len(arrays[-1])} rows, expected {n}")
    return pa.Table.from_arrays(arrays, schema=arrow_schema(table))
