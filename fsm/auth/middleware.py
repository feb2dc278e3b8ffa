"""Bearer-token authentication for every route but the public ones."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from fsm.auth.service import AuthService
from fsm.auth.tokens import InvalidToken
from fsm.db import current_unit, session_scope
from fsm.settings import Settings

PUBLIC_PATHS = (
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/invitations/accept",
    "/schema",
    "/health",
)
# Client users live in the client app (its photos included) and may sign out and ask who
# they are; every other route is the back office and answers them 403, whatever its own
# guards say, so a new staff route cannot leak prices or internal notes to a client.
CLIENT_SURFACES = ("/mobile/v1/client/", "/api/v1/auth/")


def is_client_surface(path_template: str) -> bool:
    """Whether a route (by its path template) belongs to what client users may call."""
    return path_template.startswith(CLIENT_SURFACES)


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer <jwt>` to a principal on `request.user`."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("a bearer access token is required")
        state = connection.app.state
        settings: Settings = state.settings
        try:
            unit = current_unit()
            if unit is not None:
                # The request's own session: one checkout and one transaction per request,
                # not a second pair for authentication alone.
                session = await unit.open(state.session_factory)
                principal = await AuthService(session, settings.auth).authenticate(token.strip())
            else:
                async with session_scope(state.session_factory) as session:
                    principal = await AuthService(session, settings.auth).authenticate(
                        token.strip()
                    )
        except InvalidToken as exc:
            raise NotAuthorizedException(exc.message) from exc
        if principal.is_client and not is_client_surface(connection.scope["path_template"]):
            raise PermissionDeniedException("client users use the client app")
        return AuthenticationResult(user=principal, auth=token)
