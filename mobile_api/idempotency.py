"""Idempotency keys for the app's writes: a retried request changes nothing twice.

Phones lose their connection halfway through a request and retry. Every mobile write
endpoint therefore accepts an ``Idempotency-Key`` header (a client-generated UUID) and
promises:

- same caller + same key + same request (method, path and a hash of the decoded body)
  -> the first answer (status and body) is replayed byte for byte, with the header
  ``Idempotent-Replayed: true``, and nothing changes (an endpoint whose answer holds
  short-lived links passes ``replay=`` to re-render them from the current state);
- the path is compared normalised (lower case, no trailing slash), so
  ``/visits/ABC.../status/`` online and the same action replayed by ``/sync`` match;
- same key with another method, path or body -> 422 ``idempotency_key_reused``;
- a malformed key -> 422 ``validation_error`` naming ``Idempotency-Key``;
- no header -> the request runs as usual (no replay protection).

How it stays correct under concurrency and failure: the key row is written in the
request's own transaction, *before* the change. A concurrent duplicate blocks on the
primary key (user, key) until the first transaction ends; if that one committed, the
duplicate sees the row and replays its answer, if it rolled back (any 4xx/5xx: the
request's session rolls back on error) the duplicate claims the key and runs. The answer is
recorded in the same transaction just before commit, so "changed" and "key remembered"
are one fact. A failed request leaves no key, so the app may simply retry.

Keys live ``settings.mobile.idempotency_ttl_hours`` (7 days by default); an expired key is
reclaimed on its next use, and ``purge_expired_keys`` deletes old rows
(daily by the scheduler's ``mobile_housekeeping`` job, or ``fsm jobs mobile-housekeeping``).

Usage in a controller (the provider reads the header and the caller)::

    from mobile_api.idempotency import Idempotency, provide_idempotency

    class PhotoController(Controller):
        dependencies = {"idempotency": Provide(provide_idempotency)}

        @post("/{visit_id:uuid}/photos", status_code=201)
        async def request_upload(
            self,
            photos: NamedDependency[PhotoService],
            principal: NamedDependency[Principal],
            idempotency: NamedDependency[Idempotency],
            visit_id: FromPath[uuid.UUID],
            data: JSONBody[PhotoSlotRequest],
        ) -> Response[bytes]:
            async def act() -> PhotoSlotRead:
                return photo_slot_read(await photos.request_slot(visit_id, data, actor=principal))

            return await idempotency.respond(data, act, status_code=201)

``respond`` hashes ``data`` (any msgspec-encodable value; the decoded body, so whitespace
and key order do not matter), replays or runs ``act``, stores the JSON answer and returns
it. Code that applies queued actions itself (the sync endpoint) calls ``run`` with the
method, path and payload the equivalent endpoint would have had, inside a savepoint.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import HeaderParameter
from sqlalchemy import ForeignKey, Index, LargeBinary, SmallInteger, String, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from fsm.auth.principal import Principal
from fsm.db import Base, utcnow
from fsm.errors import InvalidState, ValidationFailed, field_error

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKey(Base):
    """A key a caller used for one write, with the answer it got (replayed on a retry)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # sha256 of method, path and the canonical JSON of the decoded body.
    request_hash: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    # NULL only inside the claiming transaction, before the answer is known.
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class IdempotencyKeyReused(ValidationFailed):
    """The key was already used for a different request."""

    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(InvalidState):
    """The key is claimed by work of this same transaction that has not answered yet."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer of a write: status, JSON body, and whether it is a replay."""

    status_code: int
    body: bytes
    is_replay: bool = False

    def response(self) -> Response[bytes]:
        """As an HTTP response; replays say so in a header."""
        headers = {REPLAYED_HEADER: "true"} if self.is_replay else None
        return Response(
            self.body,
            status_code=self.status_code,
            media_type="application/json",
            headers=headers,
        )


# Turns a stored answer into the one a retry gets (same facts, links signed anew).
Replay = Callable[[Answer], Awaitable[Answer]]


def parse_key(raw: str | None, *, field: str = IDEMPOTENCY_HEADER) -> uuid.UUID | None:
    """The key as a UUID; None when absent.

    Raises:
        ValidationFailed: the key is not a UUID.
    """
    if raw is None:
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise field_error(field, "must be a UUID generated by the app") from None


def normalise_path(path: str) -> str:
    """The path as keys compare it: lower case (UUIDs in any case), no trailing slash.

    Every mobile route is lower case apart from its UUID parameters, so this names the
    same endpoint and resource however the app spelled it.
    """
    return path.lower().rstrip("/") or "/"


def request_hash(method: str, path: str, payload: Any) -> str:
    """The fingerprint of a request: method, normalised path and its body's canonical JSON."""
    body = msgspec.json.encode(msgspec.to_builtins(payload), order="sorted")
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\n")
    digest.update(normalise_path(path).encode())
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


class IdempotencyStore:
    """Claims keys and records answers in the caller's session (its transaction)."""

    def __init__(self, session: AsyncSession, *, ttl: timedelta) -> None:
        self.session = session
        self.ttl = ttl

    async def claim(
        self, user_id: uuid.UUID, key: uuid.UUID, *, method: str, path: str, fingerprint: str
    ) -> Answer | None:
        """Claim `key` for this request (None), or the first answer if it was used before.

        Blocks while another transaction holds the same key, then replays its answer (it
        committed) or claims the key (it rolled back). An expired key is claimed afresh.

        Raises:
            IdempotencyKeyReused: the key belongs to another request.
        """
        now = utcnow()
        values = {
            "request_hash": fingerprint,
            "method": method.upper(),
            "path": normalise_path(path),
            "status_code": None,
            "response_body": None,
            "created_at": now,
            "expires_at": now + self.ttl,
        }
        stmt = (
            insert(IdempotencyKey)
            .values(user_id=user_id, key=key, **values)
            .on_conflict_do_update(
                index_elements=[IdempotencyKey.user_id, IdempotencyKey.key],
                set_=values,
                where=IdempotencyKey.expires_at <= now,
            )
            .returning(IdempotencyKey.key)
        )
        if (await self.session.execute(stmt)).scalar_one_or_none() is not None:
            return None
        row = (
            await self.session.execute(
                select(
                    IdempotencyKey.request_hash,
                    IdempotencyKey.status_code,
                    IdempotencyKey.response_body,
                ).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            )
        ).one()
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                f"{IDEMPOTENCY_HEADER} {key} was already used for another request",
                details={"field": IDEMPOTENCY_HEADER, "key": str(key)},
            )
        if row.status_code is None or row.response_body is None:
            raise IdempotencyKeyInFlight(f"{IDEMPOTENCY_HEADER} {key} is still being processed")
        return Answer(status_code=row.status_code, body=row.response_body, is_replay=True)

    async def record(self, user_id: uuid.UUID, key: uuid.UUID, answer: Answer) -> None:
        """Remember the answer of a claimed key (in the same transaction as the change)."""
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .values(status_code=answer.status_code, response_body=answer.body)
        )

    async def once(
        self,
        user_id: uuid.UUID,
        key: uuid.UUID | None,
        *,
        method: str,
        path: str,
        payload: Any,
        act: Callable[[], Awaitable[tuple[int, Any]]],
        replay: Replay | None = None,
    ) -> Answer:
        """The one idempotent execution: replay the first answer for `key`, or run `act`.

        `act` names its status with its JSON answer, and whatever the status, the answer is
        remembered (a photo confirm's 422 rejection is committed, so it is replayed too).
        Without a key `act` simply runs. Errors raised by `act` propagate and leave no key
        behind once the caller's transaction (or savepoint) rolls back. `replay`, if given,
        turns the stored answer into the one to send (fresh links, same facts). Online
        endpoints and offline sync both come through here.
        """
        if key is None:
            status_code, body = await act()
            return Answer(status_code=status_code, body=msgspec.json.encode(body))
        fingerprint = request_hash(method, path, payload)
        previous = await self.claim(user_id, key, method=method, path=path, fingerprint=fingerprint)
        if previous is not None:
            return await replay(previous) if replay is not None else previous
        status_code, body = await act()
        answer = Answer(status_code=status_code, body=msgspec.json.encode(body))
        await self.record(user_id, key, answer)
        return answer

    async def run(
        self,
        user_id: uuid.UUID,
        key: uuid.UUID | None,
        *,
        method: str,
        path: str,
        payload: Any,
        action: Callable[[], Awaitable[Any]],
        status_code: int = 200,
        replay: Replay | None = None,
    ) -> Answer:
        """`once` for an action whose status is fixed up front (201 for a create, say)."""

        async def act() -> tuple[int, Any]:
            return status_code, await action()

        return await self.once(
            user_id, key, method=method, path=path, payload=payload, act=act, replay=replay
        )


class Idempotency:
    """One request's idempotency: its caller, key, method and path."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        user_id: uuid.UUID,
        key: uuid.UUID | None,
        method: str,
        path: str,
    ) -> None:
        self.store = store
        self.user_id = user_id
        self.key = key
        self.method = method
        self.path = path

    async def respond(
        self,
        payload: Any,
        action: Callable[[], Awaitable[Any]],
        *,
        status_code: int = 200,
        replay: Replay | None = None,
    ) -> Response[bytes]:
        """Run `action` once per key and answer with its JSON (or the stored first answer).

        `replay` receives the stored answer of a retry and returns what to send instead,
        for answers holding short-lived links (presigned URLs) that must be fresh.
        """
        answer = await self.store.run(
            self.user_id,
            self.key,
            method=self.method,
            path=self.path,
            payload=payload,
            action=action,
            status_code=status_code,
            replay=replay,
        )
        return answer.response()


def idempotency_ttl(state: State) -> timedelta:
    """How long keys are remembered, from the app's settings."""
    return timedelta(hours=state.settings.mobile.idempotency_ttl_hours)


async def provide_idempotency(
    request: Request[Any, Any, Any],
    state: State,
    db_session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name=IDEMPOTENCY_HEADER,
            description="Client-generated UUID; a retry with the same key replays the answer",
        ),
    ] = None,
) -> Idempotency:
    """The request's idempotency helper (422 on a malformed key)."""
    return Idempotency(
        IdempotencyStore(db_session, ttl=idempotency_ttl(state)),
        user_id=principal.user_id,
        key=parse_key(idempotency_key),
        method=request.method,
        path=request.url.path,
    )


async def purge_expired_keys(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete keys past their expiry; the number deleted."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)
