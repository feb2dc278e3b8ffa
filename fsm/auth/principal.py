"""Who is calling: the signed-in user as every service sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fsm.users.models import STAFF_ROLES, Role


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: Role
    client_id: uuid.UUID | None
    email: str
    full_name: str
    # A client user who manages their own company's users (the client app's user admin).
    is_client_admin: bool = False

    @property
    def is_staff(self) -> bool:
        """Admins and dispatchers: the back office."""
        return self.role in STAFF_ROLES

    def may_see_client(self, client_id: uuid.UUID | None) -> bool:
        """Staff see every client's data; a client user only its own company's."""
        return self.is_staff or (self.is_client and self.client_id == client_id)

    @property
    def is_client(self) -> bool:
        return self.role is Role.CLIENT

    @property
    def is_engineer(self) -> bool:
        return self.role is Role.ENGINEER
