"""Schema migrations for a service's own tables (read models, views): numbered steps, each applied once.

The steps are a list; a step's number is its place in it, so a new step is appended, never inserted. What
a schema has had is recorded in a table of its own (``<table>``: the step numbers), and the steps run in
one transaction under an advisory lock, so two instances starting at once take turns and the second finds
nothing left to do. A step is SQL statements, or a function of the connection (e.g. folding rows again).
Steps written with ``IF NOT EXISTS`` also take in a schema made before it had migrations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

Step = Sequence[str] | Callable[[asyncpg.Connection], Awaitable[None]]


async def migrate(conn: asyncpg.Connection, schema: str, table: str, steps: Sequence[Step]) -> int:
    """Apply the steps ``schema`` has not had yet; how many were applied."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}.{table}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".{table} '
            "(step integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = await conn.fetchval(f'SELECT coalesce(max(step), 0) FROM "{schema}".{table}')
        for number, step in enumerate(steps, start=1):
            if number <= done:
                continue
            if callable(step):
                await step(conn)
            else:
                for statement in step:
                    await conn.execute(statement)
            await conn.execute(f'INSERT INTO "{schema}".{table} (step) VALUES ($1)', number)
        return max(len(steps) - done, 0)
