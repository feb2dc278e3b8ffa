"""Who is calling: the signed-in user as every service sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, SQLColumnExpression

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
    # The sites a client user is limited to; None: every site of the company (the default).
    site_ids: frozenset[uuid.UUID] | None = None

    @property
    def is_staff(self) -> bool:
        """Admins and dispatchers: the back office."""
        return self.role in STAFF_ROLES

    def may_see_client(self, client_id: uuid.UUID | None) -> bool:
        """Staff see every client's data; a client user only its own company's."""
        return self.is_staff or (self.is_client and self.client_id == client_id)

    def may_see_site(self, client_id: uuid.UUID | None, site_id: uuid.UUID | None) -> bool:
        """Staff see every site; a client user its company's, or only those it is limited to.

        What belongs to a site (its units, requests, visits, photos) is seen as the site is.
        """
        if not self.may_see_client(client_id):
            return False
        return self.site_ids is None or self.is_staff or site_id in self.site_ids

    def site_scope(
        self, site_column: SQLColumnExpression[uuid.UUID]
    ) -> tuple[ColumnElement[bool], ...]:
        """`may_see_site` as SQL, for a query already kept to the viewer's company: nothing
        for staff or a company-wide user, else `site_column` within the user's sites."""
        if self.is_staff or self.site_ids is None:
            return ()
        return (site_column.in_(sorted(self.site_ids)),)

    @property
    def is_client(self) -> bool:
        return self.role is Role.CLIENT

    @property
    def is_engineer(self) -> bool:
        return self.role is Role.ENGINEER
