"""Fold the reports' rollups: the rows the triggers appended become one row per key.

Readers sum whatever is there, so folding changes no figure; it keeps the tables at about
one row per key (a few thousand a month) however many statements wrote meanwhile. Only
committed rows are folded; rows a transaction still holds stay for the next run.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["fold_rollups"]

_FOLD = {
    "report_opened_days": "day, channel, status, reaction_bucket",
    "report_left_days": "day",
}


async def fold_rollups(session: AsyncSession) -> int:
    """Fold every key that has more than one row (or a net zero); the rows removed."""
    removed = 0
    for table, key in _FOLD.items():
        result = await session.execute(
            text(
                f"""
                WITH doubled AS (
                    SELECT {key} FROM {table} GROUP BY {key}
                    HAVING count(*) > 1 OR sum(requests) = 0
                ), gone AS (
                    DELETE FROM {table} AS r USING doubled AS d
                    WHERE ({", ".join(f"r.{c.strip()}" for c in key.split(","))})
                        = ({", ".join(f"d.{c.strip()}" for c in key.split(","))})
                    RETURNING r.*
                ), folded AS (
                    INSERT INTO {table} ({key}, requests)
                    SELECT {key}, sum(requests) FROM gone GROUP BY {key}
                    HAVING sum(requests) <> 0
                    RETURNING 1
                )
                SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded)
                """  # noqa: S608 - table and key names are the constants above
            )
        )
        removed += int(result.scalar_one())
    return removed
