"""INSERT … ON CONFLICT, which PostgreSQL and SQLite spell alike but SQLAlchemy builds per
dialect."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_or_merge(conn: AsyncConnection, table: Table) -> PostgresInsert | SqliteInsert:
    """An INSERT into `table` that takes `.on_conflict_do_update/_nothing` on this store."""
    if conn.dialect.name == "postgresql":
        return postgres_insert(table)
    return sqlite_insert(table)
