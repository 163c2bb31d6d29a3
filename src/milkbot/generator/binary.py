"""PostgreSQL binary COPY encoding of column arrays, with no Python loop over rows.

A binary COPY tuple is a field count followed by, per field, a 4-byte length and that many
bytes (-1 and no bytes for NULL). :func:`encode_rows` lays every row out at the widest width
of each field in one numpy structured array, then drops the unused bytes of short texts and
NULLs with a single boolean mask, keeping the rows in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# COPY's binary header (signature, flags, header extension length) and end-of-data marker.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"

# PostgreSQL counts timestamps in microseconds and dates in days from 2000-01-01.
PG_EPOCH_US = 946_684_800_000_000
PG_EPOCH_DAYS = 10_957

_FORMATS = {
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float4": ">f4",
    "float8": ">f8",
    "bool": "?",
    "timestamptz": ">i8",
    "date": ">i4",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a block of rows.

    ``kind`` is a key of the formats above or ``"text"``. Numbers are given as they are stored,
    except ``timestamptz`` (microseconds since 1970-01-01 UTC) and ``date`` (days since
    1970-01-01). Text is either ``labels[values]`` (``labels`` a bytes array, ``values``
    indexes) or, without labels, a bytes array whose items all have the same length.
    ``null`` marks NULL rows.
    """

    kind: str
    values: npt.NDArray[np.generic]
    labels: npt.NDArray[np.bytes_] | None = None
    null: npt.NDArray[np.bool_] | None = None


def _wire(column: Column) -> npt.NDArray[np.generic]:
    """The column's values as PostgreSQL's binary format counts them."""
    if column.labels is not None:
        text: npt.NDArray[np.bytes_] = column.labels[column.values]
        return text
    epoch = {"timestamptz": PG_EPOCH_US, "date": PG_EPOCH_DAYS}.get(column.kind)
    if epoch is None:
        return column.values
    shifted: npt.NDArray[np.int64] = column.values.astype(np.int64) - epoch
    return shifted


def encode_rows(columns: Sequence[Column]) -> bytes:
    """Binary COPY tuples (no header or trailer) for the rows of ``columns``, in order."""
    n = len(columns[0].values)
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, col in enumerate(columns):
        fields.append((f"l{i}", ">i4"))
        if col.kind == "text":
            text = col.labels if col.labels is not None else col.values
            fields.append((f"v{i}", f"S{max(text.dtype.itemsize, 1)}"))
        else:
            fields.append((f"v{i}", _FORMATS[col.kind]))
    row = np.dtype(fields)
    layout = row.fields
    assert layout is not None
    rec = np.empty(n, row)
    rec["n"] = len(columns)
    keep: npt.NDArray[np.bool_] | None = None
    for i, col in enumerate(columns):
        field, offset = layout[f"v{i}"][:2]
        width = field.itemsize
        rec[f"v{i}"] = _wire(col)
        if col.labels is not None:
            size = np.strings.str_len(col.labels).astype(np.int32)[col.values]
            if col.null is not None:
                size = np.where(col.null, -1, size)
            used = np.arange(width) < size[:, None]
        elif col.null is not None:
            size = np.where(col.null, -1, width).astype(np.int32)
            used = ~col.null[:, None]
        else:
            rec[f"l{i}"] = width
            continue
        rec[f"l{i}"] = size
        if keep is None:
            keep = np.ones((n, row.itemsize), dtype=bool)
        keep[:, offset : offset + width] = used
    raw = rec.view(np.uint8).reshape(n, row.itemsize)
    return raw.tobytes() if keep is None else raw[keep].tobytes()
