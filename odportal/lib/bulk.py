"""Bulk writes for the batched refresh, where the ORM's generic path costs too much CPU."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import Model


def rows_lock(model: type[Model], pks: Sequence[object]) -> None:
    """Lock these rows in primary-key order, inside the caller's transaction.

    Two statements that each update many of the same rows lock them in their plan's order (a
    join's, a bitmap scan's physical order), and two such orders deadlock: bench day at 10,000
    offices saw a health batch's UPDATE and the sweep's deadlock on office rows. Taking the
    locks in one order first makes the second writer wait instead. (SQLite locks the whole
    database for a write: nothing to do there.)
    """
    if not pks or connection.vendor != "postgresql":
        return
    pk = model._meta.pk.column
    table = connection.ops.quote_name(model._meta.db_table)
    qpk = connection.ops.quote_name(pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE {qpk} = ANY(%s) ORDER BY {qpk} FOR UPDATE",  # noqa: S608
            [list(pks)],
        )


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Save ``fields`` of every object in one statement: ``bulk_update``, for less CPU.

    ``bulk_update`` builds a ``CASE WHEN pk = ... THEN ...`` per object and field through the
    ORM's expression machinery, a visible share of a batched refresh's CPU
    (docs/benchmarks.md). On Postgres this
    sends ``UPDATE ... FROM (VALUES ...)`` instead, each value prepared by its own field (as
    ``save`` would) and cast to the column's type. Elsewhere it is ``bulk_update``.
    """
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, list(fields))
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    casts = [f.db_type(connection) or f.rel_db_type(connection) for f in (pk, *columns)]
    row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    params: list = []
    for obj in objs:
        params.append(pk.get_db_prep_value(obj.pk, connection))
        params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns)
    names = ", ".join(qn(f.column) for f in (pk, *columns))
    sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns)
    table = qn(meta.db_table)
    sql = (
        f"UPDATE {table} AS t SET {sets} FROM (VALUES {', '.join([row] * len(objs))})"  # noqa: S608
        f" AS v({names}) WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        rows_lock(model, [obj.pk for obj in objs])
        cursor.execute(sql, params)
