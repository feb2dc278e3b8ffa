"""Wire types shared across domains."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any
from zoneinfo import available_timezones

import msgspec
from litestar.params import QueryParameter

from fsm.errors import field_error

# Must hold something besides white space; services strip what they store.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
OptionalText = Annotated[str, msgspec.Meta(max_length=5000)]
# No characters an SMTP command line or an address header would read apart (<>()[]\,;:").
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=320,
        pattern=r'^[^@\s<>()\[\]\\,;:"]+@[^@\s<>()\[\]\\,;:"]+\.[^@\s<>()\[\]\\,;:"]+$',
    ),
]
Phone = Annotated[str, msgspec.Meta(max_length=50)]
# Input timestamps must carry a UTC offset: a naive value is a 422 naming the field, never a
# guess at the server's local time.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

# Work, absences, duties and closures lie within these years (an instant near year 1 or 9999
# has no day around it in every zone, and overflows on its way to UTC).
PLANNING_FROM = datetime(2000, 1, 1, tzinfo=UTC)
PLANNING_UNTIL = datetime(2200, 1, 1, tzinfo=UTC)
# A wall-clock time of day ("06:00:00"), in a time zone named elsewhere: an offset is refused.
LocalTime = Annotated[time, msgspec.Meta(tz=False)]
# Every number on the wire carries both bounds, so a generated client and a fuzzer know the
# range and nothing overflows a 32-bit `integer` column, a `timedelta` or a JSON double.
INT32_MAX = 2_147_483_647
# The largest integer a JSON double (a JavaScript client) holds exactly.
SAFE_INT_MAX = 2**53 - 1
Count = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]
# Sums and identity keys that may outgrow 32 bits (billed cents, `bigint` ids).
BigCount = Annotated[int, msgspec.Meta(ge=0, le=SAFE_INT_MAX)]
# Half the Earth's circumference: no two points on it are farther apart.
Kilometres = Annotated[float, msgspec.Meta(ge=0, le=20_040)]
LimitQuery = Annotated[int, QueryParameter(ge=1, le=200, description="Page size, 1 to 200")]
OffsetQuery = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="Items to skip")]

_TIMEZONES: frozenset[str] | None = None


def aware(value: datetime | None, field: str) -> datetime | None:
    """`value` if it carries a UTC offset (for query parameters, which msgspec cannot check).

    Raises:
        ValidationFailed: naming `field`, for a time without an offset.
    """
    if value is not None and value.utcoffset() is None:
        raise field_error(field, "needs a UTC offset, such as 2026-11-23T10:00:00Z")
    return value


def check_timezone(name: str, field: str = "timezone") -> str:
    """`name` if it is an IANA timezone such as `Europe/Berlin`.

    Raises:
        ValidationFailed: naming `field`.
    """
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    if name not in _TIMEZONES:
        raise field_error(field, f"unknown timezone {name!r}; use an IANA name like Europe/Berlin")
    return name


class ErrorDetail(msgspec.Struct, kw_only=True):
    """What went wrong: `code` is the machine-readable name clients switch on."""

    code: str
    message: str
    details: Any = None


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every error answer of the API, for OpenAPI documents (see `fsm.web.error_response`)."""

    error: ErrorDetail
