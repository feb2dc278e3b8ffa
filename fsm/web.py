"""Web plumbing shared by every controller: one error body, the request's session, the caller."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.audit.models import enable_audit
from fsm.auth.principal import Principal
from fsm.db import database_outage, session_scope
from fsm.errors import DomainError, TooManyRequests, Unavailable, error_body
from fsm.outages import DATABASE, PARTS
from fsm.users.models import Role

log = logging.getLogger("fsm.web")


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """The one error body of the API: `{"error": {"code", "message", "details"}}`."""
    return Response(
        error_body(code, message, details),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def handle_domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, Unavailable):
        if exc.part in PARTS:
            PARTS[exc.part].failed(str(exc.__cause__ or exc.message))
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


_MSGSPEC_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MSGSPEC_FIELD = re.compile(
    r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`"
)


def _validation_details(exc: ValidationException) -> list[dict[str, Any]]:
    """Name the field of every problem; msgspec puts the path at the end of its message."""
    details = []
    extra = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
    for item in extra:
        if not isinstance(item, dict):
            details.append({"field": None, "message": str(item)})
            continue
        message = str(item.get("message", ""))
        # Litestar gives the msgspec path as `key` ("data" for the body's root).
        key = item.get("key")
        path = None if key in (None, "data") else str(key)
        match = _MSGSPEC_PATH.search(message)
        if match:
            message = message[: match.start()]
            path = match.group("path") or path
        field = path
        # A missing or unknown key is reported at its parent; name the key itself.
        named = _MSGSPEC_FIELD.match(message)
        if named:
            field = f"{path}.{named.group('name')}" if path else named.group("name")
        details.append({"field": field, "source": item.get("source"), "message": message})
    return details


def handle_http_exception(
    _: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException):
        details = _validation_details(exc)
        fields = ", ".join(str(d["field"]) for d in details if d.get("field"))
        message = f"invalid input: {fields}" if fields else "invalid input"
        return error_response(422, "validation_error", message, details)
    if isinstance(exc, NotAuthorizedException):
        return error_response(
            401, "unauthorized", exc.detail, headers={"WWW-Authenticate": "Bearer"}
        )
    if isinstance(exc, PermissionDeniedException):
        return error_response(403, "forbidden", exc.detail)
    code = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
        429: "too_many_requests",
    }.get(exc.status_code, "http_error")
    detail = exc.detail if exc.status_code < 500 else "internal server error"
    return error_response(exc.status_code, code, detail, headers=exc.headers)


def handle_integrity_error(
    request: Request[Any, Any, Any], exc: IntegrityError
) -> Response[dict[str, Any]]:
    """A constraint the service did not check first: say which, reveal nothing else."""
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    log.warning("integrity error on %s %s: %s", request.method, request.url.path, constraint)
    return error_response(
        409,
        "constraint_violation",
        "the change conflicts with existing data",
        {"constraint": constraint},
    )


def handle_database_error(
    request: Request[Any, Any, Any], exc: DBAPIError
) -> Response[dict[str, Any]]:
    """Text PostgreSQL cannot store (a NUL character) is bad input, not our failure."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    if sqlstate in _BAD_TEXT_STATES:
        return error_response(
            422,
            "validation_error",
            "the input holds characters that cannot be stored",
            [{"field": None, "message": "invalid characters (such as NUL)"}],
        )
    return handle_unexpected(request, exc)


# character_not_in_repertoire, untranslatable_character, invalid text representation
_BAD_TEXT_STATES = {"22021", "22P05"}


# How long a client should wait before retrying when a part is down.
RETRY_AFTER_S = 5


def database_unavailable(reason: str) -> Response[dict[str, Any]]:
    """503 for every request while the database is down: retry later, not a bug."""
    DATABASE.failed(reason)
    return error_response(
        503,
        "database_unavailable",
        "the database cannot be reached right now; try again later",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Log the trace; the client gets no stack, only that it was our fault."""
    reason = database_outage(exc)
    if reason is not None:
        return database_unavailable(reason)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    IntegrityError: handle_integrity_error,
    DBAPIError: handle_database_error,
    Exception: handle_unexpected,
}


async def provide_db_session(
    state: State, request: Request[Any, Any, Any]
) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed after the response is built, else rolled back.

    An admin's changes to the configuration are written to the audit log as they flush.
    """
    async with session_scope(state.session_factory) as session:
        caller = request.scope.get("user")
        if isinstance(caller, Principal) and caller.role is Role.ADMIN:
            enable_audit(session, caller.user_id)
        yield session


def provide_principal(request: Request[Principal, Any, Any]) -> Principal:
    """The signed-in caller."""
    return request.user
