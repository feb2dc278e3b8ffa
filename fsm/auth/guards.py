"""Route guards by role; finer scoping (own client, own jobs) lives in the services."""

from __future__ import annotations

from collections.abc import Callable

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from fsm.auth.principal import Principal
from fsm.users.models import Role

Guard = Callable[[ASGIConnection, BaseRouteHandler], None]  # type: ignore[type-arg]


def requires_roles(*roles: Role) -> Guard:
    """A guard letting through only callers with one of `roles`."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
        if connection.scope.get("method") == "OPTIONS":
            # Litestar's own answer to OPTIONS is the Allow header and nothing else; it is
            # not authenticated (a CORS preflight carries no token), so there is no caller.
            return
        principal = connection.user
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise PermissionDeniedException(f"this needs one of the roles: {names}")

    return guard


requires_admin = requires_roles(Role.ADMIN)
requires_staff = requires_roles(Role.ADMIN, Role.DISPATCHER)
requires_engineer = requires_roles(Role.ENGINEER)
requires_client = requires_roles(Role.CLIENT)
requires_signed_in = requires_roles(*Role)


def requires_client_admin(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """A guard letting through only a client's own user admins."""
    if connection.scope.get("method") == "OPTIONS":
        return
    principal = connection.user
    if not (isinstance(principal, Principal) and principal.is_client and principal.is_client_admin):
        raise PermissionDeniedException("this needs a client user who administers its company")
