"""Offline sync: actions queued on the phone, applied in device order, each on its own.

Every action carries its idempotency key (`id`) and is applied exactly as the online
endpoint would apply it, under that endpoint's method, path and body fingerprint: an
action first sent online and then again in a batch is recognised as a duplicate. Each
action runs in its own SAVEPOINT, so a refused one leaves nothing behind (and no key:
it may be sent again) while the others still apply. Replaying a whole batch answers
`duplicate` for everything applied before and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError

from fsm.auth.principal import Principal
from fsm.errors import DomainError
from mobile_api.engineer.schemas import (
    ChecklistAction,
    CommentAction,
    ErrorRead,
    LocationAction,
    PhotoConfirmAction,
    StatusAction,
    SyncAction,
    SyncRead,
    SyncRequest,
    SyncResult,
)
from mobile_api.engineer.service import EngineerApp
from mobile_api.idempotency import Answer, IdempotencyStore, request_hash

ENGINEER_PATH = "/mobile/v1/engineer"

Act = Callable[[], Awaitable[tuple[int, Any]]]
# Confirms a photo as POST /photos/{id}/confirm does: (status, body).
PhotoConfirmer = Callable[[uuid.UUID, str | None], Awaitable[tuple[int, Any]]]


class PhotosUnavailable(DomainError):
    """This server cannot confirm photos."""

    status_code = 422


class SyncRunner:
    """Applies one engineer's queued actions."""

    def __init__(
        self,
        app: EngineerApp,
        store: IdempotencyStore,
        principal: Principal,
        confirm_photo: PhotoConfirmer | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.principal = principal
        self.confirm_photo = confirm_photo

    async def apply(self, batch: SyncRequest) -> SyncRead:
        """One result per action, in the order sent; nothing is dropped silently."""
        return SyncRead(results=[await self._apply_one(action) for action in batch.actions])

    async def _apply_one(self, action: SyncAction) -> SyncResult:
        kind = type(action).__struct_config__.tag
        assert isinstance(kind, str)  # every action type is tagged
        method, path, status_code, act = self._route(action)
        try:
            async with self.app.session.begin_nested():
                answer = await self._once(action.id, method, path, action.data, act, status_code)
        except DomainError as exc:
            return SyncResult(
                id=action.id,
                kind=kind,
                outcome="rejected",
                status_code=exc.status_code,
                error=ErrorRead(code=exc.code, message=exc.message, details=exc.details),
            )
        except IntegrityError:
            return SyncResult(
                id=action.id,
                kind=kind,
                outcome="rejected",
                status_code=409,
                error=ErrorRead(
                    code="constraint_violation", message="the change conflicts with existing data"
                ),
            )
        return SyncResult(
            id=action.id,
            kind=kind,
            outcome="duplicate" if answer.is_replay else "applied",
            status_code=answer.status_code,
            answer=msgspec.Raw(answer.body),
        )

    async def _once(
        self,
        key: uuid.UUID,
        method: str,
        path: str,
        payload: Any,
        act: Act,
        status_code: int,
    ) -> Answer:
        user_id = self.principal.user_id
        previous = await self.store.claim(
            user_id,
            key,
            method=method,
            path=path,
            fingerprint=request_hash(method, path, payload),
        )
        if previous is not None:
            return previous
        status, body = await act()
        answer = Answer(status_code=status, body=msgspec.json.encode(body))
        await self.store.record(user_id, key, answer)
        return answer

    def _route(self, action: SyncAction) -> tuple[str, str, int, Act]:
        """The online endpoint an action stands for, and how to apply it."""
        app, principal = self.app, self.principal
        if isinstance(action, StatusAction):
            visit_id, status_data = action.visit_id, action.data

            async def status() -> tuple[int, Any]:
                return 200, await app.report_status(principal, visit_id, status_data)

            return "POST", f"{ENGINEER_PATH}/visits/{visit_id}/status", 200, status
        if isinstance(action, ChecklistAction):
            visit_id, answers = action.visit_id, action.data

            async def checklist() -> tuple[int, Any]:
                return 200, await app.save_answers(principal, visit_id, answers)

            return "PUT", f"{ENGINEER_PATH}/visits/{visit_id}/checklist/answers", 200, checklist
        if isinstance(action, CommentAction):
            visit_id, comment = action.visit_id, action.data

            async def add_comment() -> tuple[int, Any]:
                return 201, await app.add_comment(principal, visit_id, comment)

            return "POST", f"{ENGINEER_PATH}/visits/{visit_id}/comments", 201, add_comment
        if isinstance(action, LocationAction):
            points = action.data

            async def location() -> tuple[int, Any]:
                return 200, await app.record_location(principal, points)

            return "POST", f"{ENGINEER_PATH}/location", 200, location
        assert isinstance(action, PhotoConfirmAction)
        photo_id, sha256 = action.photo_id, action.data.sha256
        confirm = self.confirm_photo

        async def photo() -> tuple[int, Any]:
            if confirm is None:
                raise PhotosUnavailable("photo confirmation is not available on this server")
            return await confirm(photo_id, sha256)

        return "POST", f"{ENGINEER_PATH}/photos/{photo_id}/confirm", 200, photo
