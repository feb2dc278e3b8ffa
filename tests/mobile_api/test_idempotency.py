"""Idempotency keys: a retry replays the first answer, a reused key is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fsm.db import utcnow
from fsm.errors import ValidationFailed
from fsm.users.models import Role, User
from mobile_api.idempotency import (
    IdempotencyKey,
    IdempotencyKeyReused,
    IdempotencyStore,
    parse_key,
    purge_expired_keys,
    request_hash,
)
from tests.factories import make_user

TTL = timedelta(days=7)
PATH = "/mobile/v1/engineer/visits/1/comments"


class Counter:
    """A stand-in for a change: counts how often the action really ran."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> dict[str, int]:
        self.runs += 1
        return {"run": self.runs}


async def _run(
    store: IdempotencyStore, user: User, key: uuid.UUID, action: Counter, body: object
) -> tuple[int, bytes, bool]:
    answer = await store.run(
        user.id, key, method="POST", path=PATH, payload=body, action=action, status_code=201
    )
    return answer.status_code, answer.body, answer.is_replay


class TestReplay:
    async def test_same_key_same_body_replays_the_first_answer(self, session: AsyncSession) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        store, action, key = IdempotencyStore(session, ttl=TTL), Counter(), uuid.uuid4()

        first = await _run(store, user, key, action, {"body": "hi", "n": 1})
        again = await _run(store, user, key, action, {"n": 1, "body": "hi"})

        assert action.runs == 1
        assert first == (201, b'{"run":1}', False)
        assert again == (201, b'{"run":1}', True)

    async def test_same_key_other_body_is_refused(self, session: AsyncSession) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        store, action, key = IdempotencyStore(session, ttl=TTL), Counter(), uuid.uuid4()
        await _run(store, user, key, action, {"body": "hi"})

        with pytest.raises(IdempotencyKeyReused) as caught:
            await _run(store, user, key, action, {"body": "other"})

        assert caught.value.status_code == 422
        assert caught.value.code == "idempotency_key_reused"
        assert action.runs == 1

    async def test_the_same_key_of_two_users_is_two_keys(self, session: AsyncSession) -> None:
        ann = await make_user(session, role=Role.ENGINEER)
        bob = await make_user(session, role=Role.ENGINEER)
        store, action, key = IdempotencyStore(session, ttl=TTL), Counter(), uuid.uuid4()

        await _run(store, ann, key, action, {"body": "hi"})
        await _run(store, bob, key, action, {"body": "hi"})

        assert action.runs == 2

    async def test_without_a_key_the_action_always_runs(self, session: AsyncSession) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        store, action = IdempotencyStore(session, ttl=TTL), Counter()
        for _ in range(2):
            await store.run(user.id, None, method="POST", path=PATH, payload={}, action=action)
        assert action.runs == 2

    def test_the_fingerprint_ignores_key_order_but_not_the_path(self) -> None:
        assert request_hash("POST", PATH, {"a": 1, "b": 2}) == request_hash(
            "post", PATH, {"b": 2, "a": 1}
        )
        assert request_hash("POST", PATH, {"a": 1}) != request_hash("POST", PATH + "x", {"a": 1})

    def test_the_fingerprint_ignores_how_the_path_is_spelled(self) -> None:
        visit_id = uuid.uuid4()
        online = f"/mobile/v1/engineer/visits/{str(visit_id).upper()}/status/"
        synced = f"/mobile/v1/engineer/visits/{visit_id}/status"
        assert request_hash("POST", online, {"a": 1}) == request_hash("POST", synced, {"a": 1})

    async def test_a_retry_spelling_the_path_otherwise_is_a_replay(
        self, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        store, action, key = IdempotencyStore(session, ttl=TTL), Counter(), uuid.uuid4()
        visit_id = uuid.uuid4()

        for path in (
            f"/mobile/v1/engineer/visits/{str(visit_id).upper()}/comments/",
            f"/mobile/v1/engineer/visits/{visit_id}/comments",
        ):
            await store.run(user.id, key, method="POST", path=path, payload={"b": 1}, action=action)

        assert action.runs == 1


class TestFailures:
    async def test_a_failed_action_leaves_no_key_so_the_app_can_retry(
        self, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        store, key = IdempotencyStore(session, ttl=TTL), uuid.uuid4()

        async def failing() -> None:
            raise ValidationFailed("bad")

        with pytest.raises(ValidationFailed):
            async with session.begin_nested():
                await store.run(user.id, key, method="POST", path=PATH, payload={}, action=failing)
        action = Counter()
        _, body, replayed = await _run(store, user, key, action, {})

        assert (body, replayed, action.runs) == (b'{"run":1}', False, 1)

    def test_a_malformed_key_is_a_validation_error(self) -> None:
        with pytest.raises(ValidationFailed) as caught:
            parse_key("not-a-uuid")
        assert caught.value.details == [
            {"field": "Idempotency-Key", "message": "must be a UUID generated by the app"}
        ]
        assert parse_key(None) is None


class TestExpiry:
    async def test_an_expired_key_is_claimed_afresh(self, session: AsyncSession) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        key, action = uuid.uuid4(), Counter()
        await _run(IdempotencyStore(session, ttl=-timedelta(seconds=1)), user, key, action, {})

        _, body, replayed = await _run(
            IdempotencyStore(session, ttl=TTL), user, key, action, {"other": True}
        )

        assert (body, replayed, action.runs) == (b'{"run":2}', False, 2)

    async def test_purge_deletes_only_expired_keys(self, session: AsyncSession) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        await _run(
            IdempotencyStore(session, ttl=-timedelta(seconds=1)), user, uuid.uuid4(), Counter(), {}
        )
        kept = uuid.uuid4()
        await _run(IdempotencyStore(session, ttl=TTL), user, kept, Counter(), {})

        assert await purge_expired_keys(session, now=utcnow()) == 1
        remaining = await session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.user_id == user.id)
        )
        assert list(remaining) == [kept]


@pytest.fixture
async def committed_user(engine: AsyncEngine) -> AsyncIterator[User]:
    """A user committed for real, so two separate transactions can race on its keys."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        user = await make_user(session, role=Role.ENGINEER)
        await session.commit()
    yield user
    async with AsyncSession(engine) as session:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id))
        await session.execute(delete(User).where(User.id == user.id))
        await session.commit()


class TestConcurrency:
    async def test_a_concurrent_duplicate_waits_and_replays(
        self, engine: AsyncEngine, committed_user: User
    ) -> None:
        key, action = uuid.uuid4(), Counter()
        async with AsyncSession(engine) as first, AsyncSession(engine) as second:
            claimed = await _run(IdempotencyStore(first, ttl=TTL), committed_user, key, action, {})
            # The duplicate blocks on the uncommitted key row until the first commits.
            duplicate = asyncio.create_task(
                _run(IdempotencyStore(second, ttl=TTL), committed_user, key, action, {})
            )
            await asyncio.sleep(0.2)
            await first.commit()
            replayed = await duplicate
            await second.commit()

        assert claimed == (201, b'{"run":1}', False)
        assert replayed == (201, b'{"run":1}', True)
        assert action.runs == 1

    async def test_a_duplicate_of_a_rolled_back_request_runs_it(
        self, engine: AsyncEngine, committed_user: User
    ) -> None:
        key, action = uuid.uuid4(), Counter()
        async with AsyncSession(engine) as first, AsyncSession(engine) as second:
            await _run(IdempotencyStore(first, ttl=TTL), committed_user, key, action, {})
            duplicate = asyncio.create_task(
                _run(IdempotencyStore(second, ttl=TTL), committed_user, key, action, {})
            )
            await asyncio.sleep(0.2)
            await first.rollback()
            outcome = await duplicate
            await second.commit()
            stored = await second.scalar(
                select(func.count())
                .select_from(IdempotencyKey)
                .where(IdempotencyKey.user_id == committed_user.id)
            )

        assert outcome == (201, b'{"run":2}', False)
        assert stored == 1
