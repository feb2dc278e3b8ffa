"""Live streams for both apps: server-sent events from the outbox, woken by LISTEN/NOTIFY.

- The engineer app (`GET /mobile/v1/engineer/stream`) hears the outbox's engineer events of
  its own engineer only: a job added, a job's time changed, a job taken away.
- The client app (`GET /mobile/v1/client/stream`) hears its own company's client events only
  (the request received, a stage change, a visit scheduled, the engineer on the way, a visit
  completed, the request resolved, a new public comment), each with its client-safe
  `payload` alone: never the outbox's `staff` part. A client user limited to some sites
  hears only of the requests at those sites (read as the stream opens; a change of the
  user's sites counts from the next stream, as from the next request).
So each stream is scoped as the app's REST endpoints are.

Every API process keeps one PostgreSQL connection that LISTENs on the outbox channel; the
commit of an event anywhere (any API process, any worker) NOTIFYs it, and the process wakes
its streams, which read the outbox after their position. A notification only makes the read
prompt: streams also read every `FSM_STREAM_HEARTBEAT_S` (15 s), so a lost notification or a
dropped listener connection delays an event, never loses it.

Each message's `id` is its outbox position (`"<txid>.<id>"`, see `fsm.outbox.Position`); a
client that reconnects with `Last-Event-ID` gets everything after it, in order, nothing
twice, since outbox positions never go back (only settled events are read). Without one a
stream starts at the newest settled event: the REST endpoints give the state, the stream
what changes from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Litestar, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import HeaderParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.auth.guards import requires_client, requires_engineer
from fsm.auth.principal import Principal
from fsm.auth.service import live_principal
from fsm.engineers.models import Engineer
from fsm.errors import Forbidden, field_error
from fsm.outbox import CHANNEL, Audience, OutboxEvent, Position, read_after
from fsm.workorders.models import WorkOrder, WorkOrderStatus
from mobile_api.client.requests import stage_of_status

log = logging.getLogger("fsm.streams")

HEARTBEAT_S = 15.0
# How long a browser waits before reconnecting (the SSE `retry` field).
RETRY_MS = 3000
BATCH = 200
_RECONNECT_S = 2.0
_STATUSES = frozenset(s.value for s in WorkOrderStatus)


class OutboxListener:
    """This process's LISTEN on the outbox channel, waking every open stream."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._streams: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Event:
        """An event set whenever the outbox may have something new."""
        wake = asyncio.Event()
        self._streams.add(wake)
        return wake

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self._streams.discard(wake)

    def wake_all(self) -> None:
        for wake in self._streams:
            wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            connection: asyncpg.Connection | None = None
            try:
                lost = asyncio.Event()
                connection = await asyncpg.connect(self.dsn)
                connection.add_termination_listener(partial(_set_on_loss, lost))
                await connection.add_listener(CHANNEL, self._notified)
                # Anything committed while we were not listening is read now.
                self.wake_all()
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: streams fall back to polling
                log.warning("outbox listener: %s; retrying", exc)
            finally:
                if connection is not None and not connection.is_closed():
                    await connection.close()
            await asyncio.sleep(_RECONNECT_S)

    def _notified(self, *_: object) -> None:
        self.wake_all()


@dataclass(frozen=True, slots=True)
class StreamScope:
    """Which outbox events one stream may carry, and how much of each."""

    audience: Audience
    client_id: uuid.UUID | None = None
    engineer_id: uuid.UUID | None = None
    # A site-limited client user's sites; None: the whole company.
    site_ids: frozenset[uuid.UUID] | None = None
    # The caller's session: checked again before every batch, so a stream ends with its
    # session (sign-out, deactivation) and follows a change of the user's sites.
    session_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None

    async def as_it_stands(self, session: AsyncSession) -> StreamScope | None:
        """This scope as the caller's account stands now; None once the session has ended."""
        if self.session_id is None or self.user_id is None:
            return self
        caller = await live_principal(session, self.session_id, self.user_id)
        if caller is None:
            return None
        return replace(self, site_ids=caller.site_ids)

    async def order_sites(
        self, session: AsyncSession, events: Sequence[OutboxEvent]
    ) -> dict[uuid.UUID, uuid.UUID]:
        """The site of each event's work order, read only for a site-limited stream."""
        if self.site_ids is None:
            return {}
        ids = {
            e.work_order_id
            for e in events
            if e.work_order_id is not None and e.client_id == self.client_id
        }
        if not ids:
            return {}
        rows = await session.execute(
            select(WorkOrder.id, WorkOrder.site_id).where(WorkOrder.id.in_(ids))
        )
        return dict(rows.tuples().all())

    def admits(
        self, event: OutboxEvent, order_sites: Mapping[uuid.UUID, uuid.UUID] | None = None
    ) -> bool:
        """Whether the stream carries the event; `order_sites` from `order_sites`."""
        if event.audience != self.audience.value:
            return False
        if self.audience is Audience.CLIENT:
            if self.client_id is None or event.client_id != self.client_id:
                return False
            if self.site_ids is None:
                return True
            # Nothing about a request elsewhere, nor an event naming no request at all.
            site = (order_sites or {}).get(event.work_order_id) if event.work_order_id else None
            return site in self.site_ids
        return self.engineer_id is not None and event.engineer_id == self.engineer_id

    def render(self, event: OutboxEvent) -> dict[str, Any]:
        """The message's data: the client's payload alone; the engineer's job facts too."""
        data: dict[str, Any] = {
            "kind": event.kind,
            "occurred_at": event.occurred_at.isoformat(),
            "work_order_id": _text(event.work_order_id),
            "visit_id": _text(event.visit_id),
            **event.payload,
        }
        if self.audience is Audience.CLIENT:
            status = event.payload.get("status")
            if isinstance(status, str) and status in _STATUSES:
                data["stage"] = stage_of_status(WorkOrderStatus(status)).value
        else:
            data.update(event.staff)
        return data


async def newest_position(session: AsyncSession) -> Position | None:
    """The position of the newest settled event (as `read_after` settles them)."""
    row = (
        await session.execute(
            text(
                "SELECT txid, id FROM outbox_events"
                " WHERE txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
                " ORDER BY txid DESC, id DESC LIMIT 1"
            )
        )
    ).first()
    return Position(int(row[0]), int(row[1])) if row is not None else None


async def stream_messages(
    factory: async_sessionmaker[AsyncSession],
    listener: OutboxListener | None,
    scope: StreamScope,
    after: Position | None,
    *,
    heartbeat_s: float = HEARTBEAT_S,
) -> AsyncIterator[ServerSentEventMessage]:
    """The stream's messages, forever: catch up after `after`, then follow the outbox."""
    wake = listener.subscribe() if listener is not None else asyncio.Event()
    try:
        position = after
        if position is None:
            async with factory() as session:
                position = await newest_position(session)
        yield ServerSentEventMessage(data=None, comment="connected", retry=RETRY_MS)
        while True:
            wake.clear()
            async with factory() as session:
                now_scope = await scope.as_it_stands(session)
                if now_scope is None:
                    return  # signed out or deactivated: the app has to sign in again
                scope = now_scope
                events = await read_after(session, position, limit=BATCH)
                order_sites = await scope.order_sites(session, events)
            for event in events:
                position = event.position
                if scope.admits(event, order_sites):
                    yield ServerSentEventMessage(
                        data=json.dumps(scope.render(event), ensure_ascii=False),
                        event=event.kind,
                        id=event.position.token,
                    )
            if len(events) == BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=heartbeat_s)
            if not wake.is_set():
                yield ServerSentEventMessage(data=None, comment="keep-alive")
    finally:
        if listener is not None:
            listener.unsubscribe(wake)


def _set_on_loss(lost: asyncio.Event, _connection: object) -> None:
    lost.set()


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _start(last_event_id: str | None) -> Position | None:
    if last_event_id is None or not last_event_id.strip():
        return None
    position = Position.parse(last_event_id.strip())
    if position is None:
        raise field_error("Last-Event-ID", "not an event id of this stream")
    return position


LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        max_length=41,
        description="Resume after this event (the `id` of the last message received)",
    ),
]


class NoEngineerRecord(Forbidden):
    """The signed-in user has the engineer role but no engineer record to hear about."""


def _sse(state: State, scope: StreamScope, after: Position | None) -> ServerSentEvent:
    listener: OutboxListener | None = state.get("outbox_listener")
    factory: async_sessionmaker[AsyncSession] = state.session_factory
    heartbeat_s = float(state.settings.streams.heartbeat_s)
    return ServerSentEvent(
        stream_messages(factory, listener, scope, after, heartbeat_s=heartbeat_s),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class EngineerStreamController(Controller):
    """The engineer app's live stream."""

    path = "/mobile/v1/engineer"
    tags = ["engineer app"]
    guards = [requires_engineer]

    @get("/stream", operation_id="EngineerStream")
    async def engineer_stream(
        self,
        state: State,
        principal: NamedDependency[Principal],
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        """Server-sent events: own jobs added, changed in time, or taken away."""
        after = _start(last_event_id)
        async with state.session_factory() as session:
            engineer_id = await session.scalar(
                select(Engineer.id).where(Engineer.user_id == principal.user_id)
            )
        if engineer_id is None:
            raise NoEngineerRecord("no engineer record for this user")
        return _sse(
            state,
            StreamScope(
                Audience.ENGINEER,
                engineer_id=engineer_id,
                session_id=principal.session_id,
                user_id=principal.user_id,
            ),
            after,
        )


class ClientStreamController(Controller):
    """The client app's live stream."""

    path = "/mobile/v1/client"
    tags = ["client app"]
    guards = [requires_client]

    @get("/stream", operation_id="ClientStream")
    async def client_stream(
        self,
        state: State,
        principal: NamedDependency[Principal],
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        """Server-sent events: the company's requests' stages and new public comments (a
        site-limited user's: those at its sites)."""
        return _sse(
            state,
            StreamScope(
                Audience.CLIENT,
                client_id=principal.client_id,
                site_ids=principal.site_ids,
                session_id=principal.session_id,
                user_id=principal.user_id,
            ),
            _start(last_event_id),
        )


def listener_lifespan(dsn_of: Callable[[State], str]) -> Callable[[Litestar], Any]:
    """A lifespan that runs this process's outbox listener."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        listener = OutboxListener(dsn_of(app.state))
        listener.start()
        app.state.outbox_listener = listener
        try:
            yield
        finally:
            await listener.stop()

    return lifespan
