"""Offline sync: actions queued on the phone, applied in device order, each on its own.

Every action carries its idempotency key (`id`) and is applied exactly as the online
endpoint would apply it, under that endpoint's method, path and body fingerprint: an
action first sent online and then again in a batch is recognised as a duplicate. Each
action runs in its own SAVEPOINT, so a refused one leaves nothing behind (and no key:
it may be sent again) while the others still apply. Whatever goes wrong inside one action
(invalid data, a refused move, storage down, a bug) rolls back only that action's
savepoint and reports it `rejected`; the batch answers 200. Replaying a whole batch
answers `duplicate` for everything applied before and changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy.exc import IntegrityError

from checklists.schemas import AnswersIn
from fsm.auth.principal import Principal
from fsm.errors import DomainError, ValidationFailed
from fsm.schemas import ErrorDetail
from mobile_api.engineer.schemas import (
    ActionData,
    ChecklistAction,
    CommentAction,
    CommentCreate,
    LocationAction,
    LocationBatch,
    PhotoConfirmAction,
    PhotoConfirmData,
    StatusAction,
    StatusRequest,
    SyncAction,
    SyncRead,
    SyncRequest,
    SyncResult,
)
from mobile_api.engineer.service import EngineerApp
from mobile_api.idempotency import IdempotencyStore, Replay

log = logging.getLogger(__name__)

_Body = TypeVar("_Body", bound=msgspec.Struct)

ENGINEER_PATH = "/mobile/v1/engineer"

Act = Callable[[], Awaitable[tuple[int, Any]]]
# Confirms a photo as POST /photos/{id}/confirm does: (status, body).
PhotoConfirmer = Callable[[uuid.UUID, str | None], Awaitable[tuple[int, Any]]]


class PhotosUnavailable(DomainError):
    """This server cannot confirm photos."""

    status_code = 422


def decode_data(data: ActionData, kind: type[_Body]) -> _Body:
    """An action's `data` as its online endpoint would decode the body.

    Raises:
        ValidationFailed: naming the field as the online endpoint would.
    """
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at `$")
        if not message:
            message, where = str(exc), ""
        field = where.rstrip("`").lstrip(".") or None
        raise ValidationFailed(
            f"invalid input: {field}" if field else "invalid input",
            details=[{"field": field, "source": "body", "message": message}],
        ) from None


class SyncRunner:
    """Applies one engineer's queued actions."""

    def __init__(
        self,
        app: EngineerApp,
        store: IdempotencyStore,
        principal: Principal,
        confirm_photo: PhotoConfirmer | None = None,
        photo_replay: Replay | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.principal = principal
        self.confirm_photo = confirm_photo
        # A duplicate photo confirm gets its read links signed anew, as online.
        self.photo_replay = photo_replay

    async def apply(self, batch: SyncRequest) -> SyncRead:
        """One result per action, in the order sent; nothing is dropped silently."""
        return SyncRead(results=[await self._apply_one(action) for action in batch.actions])

    async def _apply_one(self, action: SyncAction) -> SyncResult:
        kind = type(action).__struct_config__.tag
        assert isinstance(kind, str)  # every action type is tagged
        try:
            async with self.app.session.begin_nested():
                method, path, payload, act = self._route(action)
                answer = await self.store.once(
                    self.principal.user_id,
                    action.id,
                    method=method,
                    path=path,
                    payload=payload,
                    act=act,
                )
                replay = self.photo_replay if isinstance(action, PhotoConfirmAction) else None
                if answer.is_replay and replay is not None:
                    answer = await replay(answer)
        except DomainError as exc:
            return _rejected(action.id, kind, exc.status_code, exc.code, exc.message, exc.details)
        except IntegrityError:
            return _rejected(
                action.id,
                kind,
                409,
                "constraint_violation",
                "the change conflicts with existing data",
            )
        except Exception:
            # The savepoint is rolled back; the actions before and after still count.
            log.exception(
                "sync action %s (%s) of user %s failed", action.id, kind, self.principal.user_id
            )
            return _rejected(action.id, kind, 500, "internal_error", "internal server error")
        return SyncResult(
            id=action.id,
            kind=kind,
            outcome="duplicate" if answer.is_replay else "applied",
            status_code=answer.status_code,
            answer=msgspec.Raw(answer.body),
        )

    def _route(self, action: SyncAction) -> tuple[str, str, Any, Act]:
        """The online endpoint an action stands for, its decoded body, and how to apply it.

        Raises:
            ValidationFailed: the action's data is not a valid body for that endpoint.
        """
        app, principal = self.app, self.principal
        if isinstance(action, StatusAction):
            visit_id, status_data = action.visit_id, decode_data(action.data, StatusRequest)

            async def status() -> tuple[int, Any]:
                return 200, await app.report_status(principal, visit_id, status_data)

            path = f"{ENGINEER_PATH}/visits/{visit_id}/status"
            return "POST", path, status_data, status
        if isinstance(action, ChecklistAction):
            visit_id, answers = action.visit_id, decode_data(action.data, AnswersIn)

            async def checklist() -> tuple[int, Any]:
                return 200, await app.save_answers(principal, visit_id, answers)

            path = f"{ENGINEER_PATH}/visits/{visit_id}/checklist/answers"
            return "PUT", path, answers, checklist
        if isinstance(action, CommentAction):
            visit_id, comment = action.visit_id, decode_data(action.data, CommentCreate)

            async def add_comment() -> tuple[int, Any]:
                return 201, await app.add_comment(principal, visit_id, comment)

            path = f"{ENGINEER_PATH}/visits/{visit_id}/comments"
            return "POST", path, comment, add_comment
        if isinstance(action, LocationAction):
            points = decode_data(action.data, LocationBatch)

            async def location() -> tuple[int, Any]:
                return 200, await app.record_location(principal, points)

            return "POST", f"{ENGINEER_PATH}/location", points, location
        assert isinstance(action, PhotoConfirmAction)
        photo_id, confirm_data = action.photo_id, decode_data(action.data, PhotoConfirmData)
        confirm = self.confirm_photo

        async def photo() -> tuple[int, Any]:
            if confirm is None:
                raise PhotosUnavailable("photo confirmation is not available on this server")
            return await confirm(photo_id, confirm_data.sha256)

        path = f"{ENGINEER_PATH}/photos/{photo_id}/confirm"
        return "POST", path, confirm_data, photo


def _rejected(
    key: uuid.UUID, kind: str, status_code: int, code: str, message: str, details: Any = None
) -> SyncResult:
    return SyncResult(
        id=key,
        kind=kind,
        outcome="rejected",
        status_code=status_code,
        error=ErrorDetail(code=code, message=message, details=details),
    )
