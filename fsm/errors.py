"""Domain errors: named facts that services raise and the app maps to HTTP once."""

from __future__ import annotations

import re
from typing import Any, ClassVar

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class DomainError(Exception):
    """Base of every error a service raises on purpose.

    `code` is the machine-readable name clients switch on (the class name in snake case
    unless set); `details` carries structured facts such as the field or the allowed moves.
    """

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = ""

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        """The API's one error body for this error (what every surface answers)."""
        return error_body(self.code, self.message, self.details)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = _CAMEL.sub("_", cls.__name__).lower()


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""

    status_code = 404


class Conflict(DomainError):
    """The request clashes with data that exists (a duplicate, a changed row)."""

    status_code = 409


class InvalidState(DomainError):
    """The thing exists but is not in a state that allows this."""

    status_code = 409


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    status_code = 403


class Unauthorized(DomainError):
    """The caller could not be identified (no, wrong or expired credentials)."""

    status_code = 401


class ValidationFailed(DomainError):
    """The input is well-formed but breaks a rule; `details` names the fields."""

    status_code = 422
    # One code for every invalid input, whether msgspec or a service rule caught it.
    code = "validation_error"


class UnknownReference(DomainError):
    """The input names a thing (by id, in a field) that does not exist or is not the caller's.

    A conflict with the data, not a malformed request: the same body succeeds once the thing
    exists, so it is a 409 and not a 422 (a schema cannot say which ids exist).
    """

    status_code = 409


class UnknownCursor(DomainError):
    """A cursor this server did not give out (or no longer reads): start from the beginning.

    A 409 like a stale sync token elsewhere: the app's state is unusable, its request is not
    malformed.
    """

    status_code = 409


class Unavailable(DomainError):
    """Something the request needs (storage, another service) is down; retry later.

    `part` names it for the outage log and `/health` (see fsm/outages.py).
    """

    status_code = 503
    part: ClassVar[str] = ""


class TooManyRequests(DomainError):
    """The caller must wait before trying again."""

    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """`{"error": {"code", "message", "details"}}`: the one error body of every surface."""
    return {"error": {"code": code, "message": message, "details": details}}


def reference_error(field: str, message: str) -> UnknownReference:
    """`field` names a thing that does not exist (or that the caller may not use)."""
    return UnknownReference(f"{field}: {message}", details=[{"field": field, "message": message}])


def field_error(field: str, message: str) -> ValidationFailed:
    """A validation error about one field."""
    return ValidationFailed(f"{field}: {message}", details=[{"field": field, "message": message}])
