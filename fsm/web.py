"""Web plumbing shared by every controller: one error body, the request's session, the caller."""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, get_args

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg, ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, ExceptionHandlersMap, Message, Receive, Scope, Send
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.audit.models import enable_audit
from fsm.auth.principal import Principal
from fsm.db import current_unit, database_outage, request_unit
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


def unit_of_work(app: ASGIApp) -> ASGIApp:
    """Middleware owning the request's session: whatever happened, it is closed at the end.

    A plain function rather than a generator dependency: Litestar never closes a generator
    dependency when a later dependency of the same request raises (a 403 or 422 from its
    parameters), and the abandoned generators were finalised by the garbage collector as
    racing `aclose()` tasks ("asynchronous generator is already running"), holding their
    connection until then. Here the commit is the `commit_unit_of_work` hook, run only when
    the handler returned; every other way out (an exception answered by the error handlers,
    a cancelled request) ends in `close()`, which rolls back what was not committed.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        async with request_unit():
            await app(scope, receive, send)

    return middleware


def allow_every_method(app: ASGIApp) -> ASGIApp:
    """Middleware: OPTIONS answers with every method of the path in `Allow`.

    Litestar builds a path's OPTIONS answer when the path's first handlers register and
    does not update it when later handlers join the same path (a GET and a POST declared in
    two controllers): `/api/v1/checklist-templates` answered `Allow: OPTIONS, POST`. The
    methods are read once from the application's routes.
    """
    allowed: dict[str, bytes] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        if not allowed:
            for route in scope["litestar_app"].routes:
                if isinstance(route, HTTPRoute):
                    allowed[route.path_format] = ", ".join(sorted(route.methods)).encode()
        methods = allowed.get(scope["path_template"])

        async def send_allow(message: Message) -> None:
            if methods is not None and message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", methods)]}
            await send(message)

        await app(scope, receive, send_allow)

    return middleware


async def provide_db_session(state: State, request: Request[Any, Any, Any]) -> AsyncSession:
    """The request's unit of work: committed when the handler returns, else rolled back.

    An admin's changes to the configuration are written to the audit log as they flush.
    """
    unit = current_unit()
    if unit is None:
        raise RuntimeError("db_session outside a request: the unit_of_work middleware is missing")
    session = await unit.open(state.session_factory)
    caller = request.scope.get("user")
    if isinstance(caller, Principal) and caller.role is Role.ADMIN:
        enable_audit(session, caller.user_id)
    return session


async def commit_unit_of_work(response: ASGIApp) -> ASGIApp:
    """After-request hook: commit the handler's work before its answer leaves.

    A failing commit raises here, inside the route, so the error handlers answer it (409 for
    a constraint, 503 while the database is down) and the client never reads a success that
    was not stored. The session is closed at once, so the answer is sent without a
    connection held.
    """
    unit = current_unit()
    if unit is not None and unit.session is not None:
        await unit.session.commit()
        DATABASE.recovered()
        await unit.close()
    return response


# ---- strict input --------------------------------------------------------------------------

_TEMPORAL = (datetime, date, time)


@dataclass(frozen=True, slots=True)
class _StrictInput:
    body: Any  # the JSON body's type, or None
    query: tuple[tuple[str, type], ...]  # (name, datetime/date/time) of temporal query params


# Keyed by the handler itself, never by id(): each app built (one per test, a reload) has its
# own handlers, and a freed handler's id is reused by the next, which then read another
# operation's body type (a login refused for "unknown field `email`"). Litestar's own OPTIONS
# handler is a slotted object no weak reference can name; it is read afresh each time.
_STRICT: weakref.WeakKeyDictionary[HTTPRouteHandler, _StrictInput] = weakref.WeakKeyDictionary()


def _strict_input(handler: HTTPRouteHandler) -> _StrictInput:
    try:
        known = _STRICT.get(handler)
    except TypeError:  # not weak-referenceable: read without caching
        return _read_strict_input(handler)
    if known is None:
        known = _STRICT[handler] = _read_strict_input(handler)
    return known


def _read_strict_input(handler: HTTPRouteHandler) -> _StrictInput:
    body: Any = None
    query: list[tuple[str, type]] = []
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if name == "data" and (kwarg is None or isinstance(kwarg, BodyKwarg)):
            if kwarg is None or kwarg.media_type == RequestEncodingType.JSON:
                body = field.annotation
        elif isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
            continue
        else:
            kinds = get_args(field.annotation) or (field.annotation,)
            temporal = [t for t in kinds if isinstance(t, type) and t in _TEMPORAL]
            if temporal:
                alias = (kwarg.query or kwarg.name) if isinstance(kwarg, ParameterKwarg) else None
                query.append((alias or name, temporal[0]))
    return _StrictInput(body=body, query=tuple(query))


async def refuse_lax_input(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: the input is read as strictly as the document states it.

    Litestar converts a JSON body to its type in msgspec's lax mode, which takes a number for
    a timestamp (`"device_at": 5` stored 1970-01-01), 0 and 1 for booleans and numeric strings
    for numbers; a query timestamp took "0.5". Here the body is first decoded strictly (types
    as JSON has them) and each temporal query value must be the ISO text the schema names;
    the lax pass that follows then finds nothing to bend.
    """
    checks = _strict_input(request.route_handler)
    for name, kind in checks.query:
        for value in request.query_params.getall(name, []):
            try:
                msgspec.json.decode(msgspec.json.encode(value), type=kind)
            except msgspec.ValidationError:
                raise ValidationException(
                    extra=[
                        {
                            "key": name,
                            "source": "query",
                            "message": f"expected an ISO {kind.__name__}",
                        }
                    ]
                ) from None
    if checks.body is None:
        return
    raw = await request.body()
    if not raw.strip():
        return  # Litestar answers a missing body
    try:
        msgspec.json.decode(raw, type=checks.body, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            extra=[{"key": "data", "source": "body", "message": str(exc)}]
        ) from None
    except msgspec.DecodeError:
        return  # Litestar answers unreadable JSON with a 400


def provide_principal(request: Request[Principal, Any, Any]) -> Principal:
    """The signed-in caller."""
    return request.user
