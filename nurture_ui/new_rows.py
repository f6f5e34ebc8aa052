"""New rows kept aside during a unit of work and inserted together, one executemany per table.

Building an ORM object and letting the unit of work insert it costs far more than the insert itself. The
engine's executor creates thousands of messages and activities a second that nothing reads back before
the commit, so inside ``collecting()`` they are kept as plain rows (``add``) and ``write()`` inserts
them, in the order they were added, after the ORM changes have been flushed: with one ``COPY`` per table
on PostgreSQL (a row costs a few microseconds instead of a protocol round of its own), one executemany
elsewhere. Outside ``collecting()``, ``add`` adds an ORM object to the session as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from nurture_ui.extensions import db

_KEY = "nurture_new_rows"


@contextmanager
def collecting() -> Iterator[None]:
    """New rows added in this block wait for ``write()`` (rows never written are dropped at the end)."""
    info = db.session.info
    outer = info.get(_KEY)
    info[_KEY] = {}
    try:
        yield
    finally:
        info[_KEY] = outer


def add(model, **values) -> None:
    """A new row of ``model`` with every column it needs (core inserts apply column defaults, not
    constructors)."""
    rows = db.session.info.get(_KEY)
    if rows is None:
        db.session.add(model(**values))
    else:
        rows.setdefault(model.__table__, []).append(values)


def write() -> None:
    """Flush the session, then insert the rows kept so far, table by table in dependency order."""
    rows = db.session.info.get(_KEY)
    if not rows:
        return
    db.session.flush()
    connection = db.session.connection()
    for table in db.metadata.sorted_tables:
        batch = rows.pop(table, None)
        if not batch:
            continue
        if connection.dialect.name == "postgresql" and _copyable(table, batch):
            _copy(connection, table, batch)
        else:
            connection.execute(sa.insert(table), batch)


def _copyable(table: sa.Table, batch: list[dict]) -> bool:
    """COPY takes one column list and applies no Python-side defaults: every row must name the same columns,
    and those must include every column with such a default."""
    keys = batch[0].keys()
    if any(row.keys() != keys for row in batch):
        return False
    return all(column.key in keys for column in table.c if column.default is not None)


def _copy(connection: sa.Connection, table: sa.Table, batch: list[dict]) -> None:
    """The rows through ``COPY … FROM STDIN``, each value bound as SQLAlchemy would bind it (the column
    types' own processing: JSON, aware timestamps)."""
    dialect = connection.dialect
    keys = list(batch[0].keys())
    processors = [table.c[key].type._cached_bind_processor(dialect) for key in keys]
    quote = dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(table.c[key].name) for key in keys)}) FROM STDIN"
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in batch:
            copy.write_row(
                [
                    process(row[key]) if process else row[key]
                    for key, process in zip(keys, processors, strict=True)
                ]
            )
