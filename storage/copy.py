"""Arrow tables into PostgreSQL by binary ``COPY``: the one encoder loop every writer uses.

``pgpq`` turns Arrow columns into PostgreSQL's binary COPY format without a Python object per
row; the table's Arrow types must match the target columns (cast before calling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

#: rows per encoded chunk (bounds the encoder's buffer, not the transaction)
CHUNK_ROWS = 65_536


def copy_arrow(cur: psycopg.Cursor, table: pa.Table, target: str) -> None:
    """``COPY target FROM STDIN (FORMAT binary)`` with ``table``'s rows.

    Args:
        cur: a cursor inside the caller's transaction.
        table: the rows; column order and types as ``target`` lists them.
        target: the table name with its column list, e.g. ``"stage (a, b)"`` (SQL text
            written by the caller's module, never user input).
    """
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = ArrowToPostgresBinaryEncoder(table.schema)
    with cur.copy(f"COPY {target} FROM STDIN (FORMAT binary)") as copy:
        copy.write(encoder.write_header())
        for batch in table.to_batches(max_chunksize=CHUNK_ROWS):
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())
