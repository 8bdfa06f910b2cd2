"""The body of every service's alembic ``env.py``: run on the connection the service hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, MetaData, create_engine


def run(target_metadata: MetaData) -> None:
    """Online migrations on the caller's connection,
    or on ``sqlalchemy.url`` for the alembic CLI."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection, target_metadata)
        return
    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///:memory:"
    with create_engine(
        url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    ).connect() as conn:
        _run_on(conn, target_metadata)
        conn.commit()


def _run_on(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
