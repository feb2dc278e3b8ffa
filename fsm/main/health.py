"""`/health`: which part the API depends on is up, in a form a load balancer understands.

200 while the database answers (the object store only degrades photo evidence, so an
instance that cannot reach it still serves everything else); 503 when the database does not,
since then no request can succeed. Each check is bounded, so the probe never hangs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import msgspec
from botocore.exceptions import ClientError
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text

from fsm.outages import DATABASE, OBJECT_STORE, OutageLog

CHECK_TIMEOUT_S = 2.0


class PartHealth(msgspec.Struct, frozen=True):
    """One part: up or down, how long the check took, and why it failed."""

    status: Literal["ok", "down"]
    latency_ms: Annotated[float, msgspec.Meta(ge=0, le=3_600_000)]
    error: str | None = None


class Health(msgspec.Struct, frozen=True):
    """`ok`: everything answers; `degraded`: photos cannot be stored or read;
    `unavailable`: the database is down and every other request answers 503."""

    status: Literal["ok", "degraded", "unavailable"]
    database: PartHealth
    object_store: PartHealth


async def _check(probe: Callable[[], Awaitable[object]], outage: OutageLog) -> PartHealth:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except TimeoutError:
        error, reason = f"no answer within {CHECK_TIMEOUT_S:g} s", "timed out"
    except ClientError as exc:  # it answered, but no: a missing bucket, wrong credentials
        error = f"refused ({exc.response.get('Error', {}).get('Code', 'error')})"
        reason = str(exc)
    except Exception as exc:  # any other failure means down; the detail goes to the log only
        error, reason = "unreachable", f"{type(exc).__name__}: {exc}"
    else:
        outage.recovered()
        return PartHealth("ok", _ms_since(started))
    outage.failed(reason)
    return PartHealth("down", _ms_since(started), error)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


@get(
    "/health",
    operation_id="Health",
    tags=["ops"],
    security=[],
    responses={
        503: ResponseSpec(Health, description="The database is down: take this instance out."),
    },
)
async def health(state: State) -> Response[Health]:
    """Per-part status of the database and the object store (no sign-in needed)."""

    async def database() -> None:
        async with state.session_factory() as session:
            await session.execute(text("SELECT 1"))

    db, store = await asyncio.gather(
        _check(database, DATABASE), _check(state.object_store.ping, OBJECT_STORE)
    )
    if db.status == "down":
        return Response(Health("unavailable", db, store), status_code=503)
    return Response(Health("ok" if store.status == "ok" else "degraded", db, store))
