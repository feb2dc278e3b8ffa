"""Reply templates: canned staff replies with placeholders filled from a work order."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.clients.models import Client
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.errors import Conflict, NotFound, ValidationFailed
from fsm.schemas import Name
from fsm.sites.models import Site
from fsm.workorders.models import ReplyTemplate
from fsm.workorders.service import WorkOrderService
from fsm.workorders.visit_models import Visit, VisitStatus

PLACEHOLDERS = {
    "client_name": "The client's name",
    "work_order_number": "e.g. WO-2026-000123",
    "work_order_title": "The work order's title",
    "site_name": "The site's name",
    "site_address": "The site's address",
    "engineer_name": "The engineer of the next (or last) visit",
    "planned_time": "That visit's planned start, site local time",
}
# `{name}` is a placeholder, `{{` and `}}` are literal braces; nothing else is interpreted,
# so a template can neither reach attributes nor inject format specs.
_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}|[{}]")

TemplateBody = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]


class TemplateCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A reply template."""

    name: Name
    body: TemplateBody


class TemplateUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change on a template; a deactivated one is no longer listed or rendered."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    body: TemplateBody | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class TemplateRead(msgspec.Struct, kw_only=True):
    """A reply template and the placeholders it uses."""

    id: uuid.UUID
    name: str
    body: str
    placeholders: list[str]
    is_active: bool


class RenderedReply(msgspec.Struct, kw_only=True):
    """A template filled in for one work order, ready to post as a comment."""

    body: str


class TemplateNotFound(NotFound):
    """No such reply template."""


class TemplateNameTaken(Conflict):
    """Another template has this name."""


def placeholders_in(body: str) -> list[str]:
    """The placeholders a template uses.

    Raises:
        ValidationFailed: an unknown placeholder or a stray brace, naming `body`.
    """
    found: list[str] = []
    for match in _TOKEN.finditer(body):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            raise ValidationFailed(
                "body: a lone brace; write {{ or }} for a literal one",
                details=[{"field": "body", "message": "lone brace"}],
            )
        if name not in PLACEHOLDERS:
            raise ValidationFailed(
                f"body: unknown placeholder {{{name}}}; known: {', '.join(sorted(PLACEHOLDERS))}",
                details=[{"field": "body", "message": f"unknown placeholder {name}"}],
            )
        if name not in found:
            found.append(name)
    return found


def render(body: str, values: dict[str, str]) -> str:
    """Fill a checked template; values are inserted as plain text, never re-parsed."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return values.get(match.group(1) or "", "")

    return _TOKEN.sub(substitute, body)


def template_read(template: ReplyTemplate) -> TemplateRead:
    """Wire form of a template."""
    return TemplateRead(
        id=template.id,
        name=template.name,
        body=template.body,
        placeholders=placeholders_in(template.body),
        is_active=template.is_active,
    )


class ReplyTemplateService:
    """Admins keep templates; staff render them for a work order."""

    def __init__(self, session: AsyncSession, work_orders: WorkOrderService) -> None:
        self.session = session
        self.work_orders = work_orders

    async def list(self, *, include_inactive: bool = False) -> Sequence[ReplyTemplate]:
        """Templates by name; deactivated ones only when asked for."""
        stmt = select(ReplyTemplate).order_by(ReplyTemplate.name)
        if not include_inactive:
            stmt = stmt.where(ReplyTemplate.is_active)
        return (await self.session.scalars(stmt)).all()

    async def update(self, template_id: uuid.UUID, data: TemplateUpdate) -> ReplyTemplate:
        """Rename, rewrite (placeholders checked again) or (de)activate a template."""
        template = await self.session.get(ReplyTemplate, template_id)
        if template is None:
            raise TemplateNotFound(f"reply template {template_id} not found")
        if not isinstance(data.body, msgspec.UnsetType):
            placeholders_in(data.body)
            template.body = data.body
        if not isinstance(data.name, msgspec.UnsetType) and data.name != template.name:
            if await self.session.scalar(
                select(ReplyTemplate.id).where(ReplyTemplate.name == data.name)
            ):
                raise TemplateNameTaken(f"a template named {data.name} exists")
            template.name = data.name
        if not isinstance(data.is_active, msgspec.UnsetType):
            template.is_active = data.is_active
        await self.session.flush()
        return template

    async def create(self, data: TemplateCreate) -> ReplyTemplate:
        """Add a template after checking its placeholders."""
        placeholders_in(data.body)
        if await self.session.scalar(
            select(ReplyTemplate.id).where(ReplyTemplate.name == data.name)
        ):
            raise TemplateNameTaken(f"a template named {data.name} exists")
        template = ReplyTemplate(name=data.name, body=data.body)
        self.session.add(template)
        await self.session.flush()
        return template

    async def render_for(
        self, template_id: uuid.UUID, work_order_id: uuid.UUID, *, viewer: Principal
    ) -> str:
        """The template filled in with the work order's details."""
        template = await self.session.get(ReplyTemplate, template_id)
        if template is None or not template.is_active:
            raise TemplateNotFound(f"reply template {template_id} not found")
        work_order = await self.work_orders.get(work_order_id, viewer=viewer)
        site = await self.session.get(Site, work_order.site_id)
        client = await self.session.get(Client, work_order.client_id)
        assert site is not None  # foreign keys guarantee both
        assert client is not None
        values = {
            "client_name": client.name,
            "work_order_number": work_order.number,
            "work_order_title": work_order.title,
            "site_name": site.name,
            "site_address": site.address,
            "engineer_name": "",
            "planned_time": "",
        }
        staffed = select(Visit).where(
            Visit.work_order_id == work_order.id,
            Visit.engineer_id.is_not(None),
            Visit.status != VisitStatus.CANCELLED,
        )
        now = utcnow()
        # The next visit to come; failing that, the last one that happened.
        visit = (
            await self.session.scalars(
                staffed.where(Visit.planned_start_at >= now)
                .order_by(Visit.planned_start_at)
                .limit(1)
            )
        ).first() or (
            await self.session.scalars(
                staffed.order_by(Visit.planned_start_at.desc().nulls_last()).limit(1)
            )
        ).first()
        if visit is not None and visit.engineer_id is not None:
            engineer = await self.session.get(Engineer, visit.engineer_id)
            values["engineer_name"] = engineer.user.full_name if engineer else ""
            if visit.planned_start_at is not None:
                local = visit.planned_start_at.astimezone(ZoneInfo(site.timezone))
                values["planned_time"] = local.strftime("%d.%m.%Y %H:%M")
        return render(template.body, values)
