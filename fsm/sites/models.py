"""Sites: the client addresses engineers travel to."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from geoalchemy2 import WKBElement
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, TimestampMixin, utcnow
from fsm.geo import point_column_type


class Site(IdMixin, TimestampMixin, Base):
    """A client's address with its point on the map, timezone and access notes."""

    __tablename__ = "sites"
    __table_args__ = (
        # Distance searches run on the geography cast (metres on the sphere); index that cast.
        Index(
            "ix_sites_location_geography",
            text("(location::geography)"),
            postgresql_using="gist",
        ),
        Index(
            "ix_sites_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        # The target of client_user_sites' foreign key: a user's site is of the user's company.
        UniqueConstraint("id", "client_id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500))
    city: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    # None: an unlocated site (imported without coordinates, no geocoder is assumed); the
    # dispatcher cannot plan its visits until someone sets the point.
    location: Mapped[WKBElement | None] = mapped_column(point_column_type())
    access_notes: Mapped[str | None] = mapped_column(Text)
    # [{"weekday": 0-6 (Monday 0), "opens": "08:00", "closes": "17:00"}, ...]
    opening_hours: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    # The key of this row in the company's own records, matched by re-imports.
    external_key: Mapped[str | None] = mapped_column(String(100), unique=True)


class SiteClosure(IdMixin, Base):
    """Days a site is shut whatever its opening hours say (holidays, a plant shutdown), in
    the site's own calendar: planning never sends work there on them."""

    __tablename__ = "site_closures"
    __table_args__ = (
        CheckConstraint("first_day <= last_day", name="first_day_not_after_last"),
        Index("ix_site_closures_site_id_first_day", "site_id", "first_day"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    first_day: Mapped[date]
    last_day: Mapped[date]
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
