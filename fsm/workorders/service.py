"""Work orders: opening, the status flow, SLA clocks, timeline, comments and queues."""

from __future__ import annotations

import builtins
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ARRAY, Uuid, and_, any_, bindparam, exists, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from fsm.auth.principal import Principal
from fsm.clients.models import ClientContact
from fsm.cursor import decode_cursor, encode_cursor
from fsm.db import like_pattern, utcnow
from fsm.engineers.models import Engineer
from fsm.errors import (
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    UnknownCursor,
    field_error,
    reference_error,
)
from fsm.outbox import EventKind, record
from fsm.pagination import PageRequest
from fsm.settings import WorkOrderSettings
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.skills.service import SkillService
from fsm.sla.service import SlaService
from fsm.workorders.custom_fields import CustomFieldService, validate_custom_fields
from fsm.workorders.models import (
    Channel,
    Comment,
    Priority,
    RequiredAt,
    Visibility,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderEvent,
    WorkOrderRating,
    WorkOrderStatus,
    WorkOrderType,
    work_order_skills,
)
from fsm.workorders.sla_clock import SlaClock
from fsm.workorders.visit_models import OPEN_VISIT_STATUSES, Visit
from fsm.workorders.visit_models import VisitStatus as V

S = WorkOrderStatus
# Work a client may rate.
RATEABLE = frozenset({S.RESOLVED, S.CLOSED})
# A rating this low or lower is told to the dispatchers.
LOW_RATING = 3
# Scheduled maintenance opened in one statement over parallel arrays (see open_scheduled).
_OPEN_SCHEDULED = """
INSERT INTO work_orders (
    id, number, client_id, site_id, equipment_id, contract_id, service_period_id, type,
    priority, channel, status, title, description, custom_fields, sla_policy_id,
    sla_policy_version,
    reaction_due_at, resolution_due_at, sla_next_due_at, created_at, updated_at)
SELECT b.id,
       -- WO-<year>-<n>, at least six digits, as _next_number writes it.
       'WO-' || CAST(:year AS text) || '-' || lpad(b.num, greatest(6, length(b.num)), '0'),
       b.client_id, b.site_id, b.equipment_id, b.contract_id, b.period_id, 'maintenance',
       'normal', 'scheduled', 'new', b.title, b.description, '{}', b.policy_id,
       b.policy_version,
       NULL, b.due_at, b.due_at, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM unnest(CAST(:ids AS uuid[]), CAST(:clients AS uuid[]), CAST(:sites AS uuid[]),
            CAST(:equipment AS uuid[]), CAST(:contracts AS uuid[]), CAST(:periods AS uuid[]),
            CAST(:policies AS uuid[]), CAST(:versions AS integer[]), CAST(:titles AS text[]),
            CAST(:descriptions AS text[]),
            CAST(:due AS timestamptz[]))
     WITH ORDINALITY AS u(id, client_id, site_id, equipment_id, contract_id, period_id,
                          policy_id, policy_version, title, description, due_at, n)
CROSS JOIN LATERAL (SELECT u.*, CAST(CAST(:first AS integer) + u.n - 1 AS text) AS num) b
ON CONFLICT (service_period_id) DO NOTHING
RETURNING id, number
"""

# Moves a person may make by hand; reopening has its own path with a time window.
TRANSITIONS: dict[WorkOrderStatus, frozenset[WorkOrderStatus]] = {
    S.NEW: frozenset({S.SCHEDULED, S.IN_PROGRESS, S.ON_HOLD, S.RESOLVED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.NEW, S.IN_PROGRESS, S.ON_HOLD, S.RESOLVED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.SCHEDULED, S.ON_HOLD, S.RESOLVED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.NEW, S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.SCHEDULED, S.IN_PROGRESS, S.ON_HOLD, S.RESOLVED, S.CANCELLED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}
OPEN_STATUSES = frozenset({S.NEW, S.SCHEDULED, S.IN_PROGRESS, S.ON_HOLD, S.REOPENED})


class SlaState(enum.StrEnum):
    """How a work order stands against its next deadline."""

    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"


class WorkOrderNotFound(NotFound):
    """No such work order, or not one the caller may see."""


class IllegalTransition(InvalidState):
    """The work order cannot move from its status to the one asked for."""


class ReopenWindowClosed(InvalidState):
    """The reopen window has passed; the client should open a new request."""


class OpenVisitsRemain(InvalidState):
    """The work order still has visits that are not completed or cancelled."""


@dataclass(frozen=True, slots=True)
class WorkOrderDraft:
    """What it takes to open a work order, already parsed."""

    site_id: uuid.UUID
    type: WorkOrderType
    title: str
    description: str = ""
    priority: Priority = Priority.NORMAL
    channel: Channel = Channel.PHONE
    equipment_id: uuid.UUID | None = None
    required_skills: Sequence[str] = ()
    custom_fields: dict[str, Any] = field(default_factory=dict)
    requester_contact_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ScheduledWork:
    """A work order a plan opens by itself (planned maintenance), one per service period."""

    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID
    equipment_id: uuid.UUID
    contract_id: uuid.UUID
    service_period_id: uuid.UUID
    # The contract's policy; None means the default policy, as for any other order.
    sla_policy_id: uuid.UUID | None
    title: str
    description: str
    # The end of the service period: planned work is due then, not by a reaction target.
    due_at: datetime
    skill_ids: Sequence[uuid.UUID] = ()


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The dispatcher's queue: every filter is optional."""

    statuses: Sequence[WorkOrderStatus] = ()
    priorities: Sequence[Priority] = ()
    types: Sequence[WorkOrderType] = ()
    client_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    skill: str | None = None
    engineer_id: uuid.UUID | None = None
    sla_state: SlaState | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    no_reaction_within_minutes: int | None = None
    text: str | None = None
    sort: str = "sla"


# A queue counts its matches exactly up to this many; past it the total is "at least".
COUNT_CAP = 1_000


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of a queue: the items, the total (exact, or a lower bound past the cap)
    and the cursor of the next page (None on the last one)."""

    items: Sequence[WorkOrder]
    total: int
    total_exact: bool
    limit: int
    offset: int
    next_cursor: str | None


def _decode_queue_cursor(cursor: str, by_created: bool) -> tuple[Any, ...]:
    """The (sort key, id) after which a page starts; 409 for another sort's cursor."""
    sort, key, last_id = decode_cursor(cursor, (str, datetime, uuid.UUID))
    if sort != ("created" if by_created else "sla") or (by_created and key is None):
        message = "belongs to another sort order; start again without it"
        raise UnknownCursor(f"cursor: {message}", details=[{"field": "cursor", "message": message}])
    return key, last_id


def sla_state(work_order: WorkOrder, now: datetime, warning: timedelta) -> SlaState:
    """Breached once a deadline passed unmet; at risk when the next one is near."""
    if work_order.is_reaction_breached or work_order.is_resolution_breached:
        return SlaState.BREACHED
    next_due = work_order.sla_next_due_at
    if next_due is not None and next_due < now:
        return SlaState.BREACHED
    if next_due is not None and next_due < now + warning:
        return SlaState.AT_RISK
    return SlaState.OK


@dataclass(frozen=True, slots=True)
class CoverageFacts:
    """What the installed base says about a new request: where the unit is, what covers it."""

    equipment_site_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    sla_policy_id: uuid.UUID | None


class CoverageLookup(Protocol):
    """Resolves the contract covering a request (the equipment package provides it)."""

    async def __call__(
        self,
        session: AsyncSession,
        *,
        client_id: uuid.UUID,
        equipment_id: uuid.UUID | None,
        on: date,
    ) -> CoverageFacts: ...


def events_visible_to(viewer: Principal) -> tuple[ColumnElement[bool], ...]:
    """Which timeline events the viewer may read: staff all, everyone else the public ones.

    The one statement of the rule; every surface that shows a timeline filters with it.
    """
    return () if viewer.is_staff else (WorkOrderEvent.visibility == Visibility.PUBLIC,)


def comments_visible_to(viewer: Principal) -> tuple[ColumnElement[bool], ...]:
    """Which comments the viewer may read: internal ones never reach a client."""
    return (Comment.is_internal.is_(False),) if viewer.is_client else ()


class RatingNotAllowed(InvalidState):
    """Only resolved or closed work can be rated."""


class AlreadyRated(Conflict):
    """The request has its rating; it is given once."""


class WorkOrderService:
    """Work orders as staff, clients and engineers may see and change them."""

    def __init__(
        self,
        session: AsyncSession,
        settings: WorkOrderSettings,
        coverage: CoverageLookup,
    ) -> None:
        self.session = session
        self.settings = settings
        # fsm cannot import the equipment package; the app wires its lookup in here.
        self.coverage = coverage
        self.warning = timedelta(minutes=settings.sla_warning_minutes)
        self.sla = SlaClock(session, warning_minutes=settings.sla_warning_minutes)
        self.policies = SlaService(session)

    # -- reading --------------------------------------------------------------------------

    def _visible_to(self, viewer: Principal) -> ColumnElement[bool] | None:
        """The condition limiting work orders to the viewer's; None for staff."""
        if viewer.is_staff:
            return None
        if viewer.is_client:
            # A site-limited client user sees only the orders at its sites.
            return and_(
                WorkOrder.client_id == viewer.client_id, *viewer.site_scope(WorkOrder.site_id)
            )
        # Engineers see the work orders they have (or had) a visit for.
        return exists(
            select(Visit.id)
            .join(Engineer, Engineer.id == Visit.engineer_id)
            .where(Visit.work_order_id == WorkOrder.id, Engineer.user_id == viewer.user_id)
        )

    async def get(
        self, work_order_id: uuid.UUID, *, viewer: Principal, for_update: bool = False
    ) -> WorkOrder:
        """The work order, if the viewer may see it."""
        stmt = select(WorkOrder).where(WorkOrder.id == work_order_id)
        condition = self._visible_to(viewer)
        if condition is not None:
            stmt = stmt.where(condition)
        if for_update:
            stmt = stmt.with_for_update(of=WorkOrder)
        work_order = (await self.session.scalars(stmt)).one_or_none()
        if work_order is None:
            raise WorkOrderNotFound(f"work order {work_order_id} not found")
        return work_order

    async def list(
        self,
        page: PageRequest,
        queue: QueueFilter,
        *,
        viewer: Principal,
        cursor: str | None = None,
    ) -> QueuePage:
        """A queue of work orders, by next SLA deadline unless asked otherwise.

        Pages by `cursor` (keyset: the sort key of the last item sent, as fast on page 1 000
        as on page 1) or by `page.offset`. The total is exact up to `COUNT_CAP`; past it the
        page says "at least `COUNT_CAP`" (`total_exact` false) instead of counting a million
        rows on every page.
        """
        now = utcnow()
        conditions = self._queue_conditions(queue, now)
        visible = self._visible_to(viewer)
        if visible is not None:
            conditions.append(visible)
        by_created = queue.sort == "created"
        after = _decode_queue_cursor(cursor, by_created) if cursor is not None else None
        # The matches, up to one past the cap, in whatever order is cheapest: their number
        # is the total; when they are all there, the page is sorted from them by primary
        # key instead of running costly conditions (a text search) a second time.
        matched = (
            await self.session.scalars(select(WorkOrder.id).where(*conditions).limit(COUNT_CAP + 1))
        ).all()
        counted = len(matched)
        if counted <= COUNT_CAP:
            ids = bindparam("matched", builtins.list(matched), type_=ARRAY(Uuid()))
            stmt = select(WorkOrder).where(WorkOrder.id == any_(ids))
        else:
            stmt = select(WorkOrder).where(*conditions)
        if by_created:
            stmt = stmt.order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
            if after is not None:
                stmt = stmt.where(tuple_(WorkOrder.created_at, WorkOrder.id) < tuple_(*after))
            rows = builtins.list(
                await self._page(stmt, page.limit, page.offset if after is None else 0)
            )
        else:
            rows = builtins.list(await self._sla_page(stmt, page, after))
        next_cursor = None
        if len(rows) == page.limit:
            last = rows[-1]
            key = last.created_at if by_created else last.sla_next_due_at
            next_cursor = encode_cursor("created" if by_created else "sla", key, last.id)
        return QueuePage(
            items=rows,
            total=min(counted, COUNT_CAP),
            total_exact=counted <= COUNT_CAP,
            limit=page.limit,
            offset=page.offset,
            next_cursor=next_cursor,
        )

    async def _page(self, stmt: Any, limit: int, offset: int = 0) -> Sequence[WorkOrder]:
        return (await self.session.scalars(stmt.limit(limit).offset(offset))).all()

    async def _sla_page(
        self, stmt: Any, page: PageRequest, after: tuple[Any, ...] | None
    ) -> Sequence[WorkOrder]:
        """By next deadline, undated ones last: after a cursor, two index ranges in turn."""
        due, key = WorkOrder.sla_next_due_at, WorkOrder.id
        if after is None:
            ordered = stmt.order_by(due.asc().nulls_last(), key)
            return await self._page(ordered, page.limit, page.offset)
        rows: builtins.list[WorkOrder] = []
        last_due, last_id = after
        if last_due is not None:
            dated = stmt.where(tuple_(due, key) > tuple_(last_due, last_id)).order_by(due, key)
            rows.extend(await self._page(dated, page.limit))
        if len(rows) < page.limit:
            undated = stmt.where(due.is_(None))
            if last_due is None:
                undated = undated.where(key > last_id)
            rows.extend(await self._page(undated.order_by(key), page.limit - len(rows)))
        return rows

    def _queue_conditions(self, queue: QueueFilter, now: datetime) -> builtins.list[Any]:
        conditions: builtins.list[Any] = []
        if queue.statuses:
            conditions.append(WorkOrder.status.in_(queue.statuses))
        if queue.priorities:
            conditions.append(WorkOrder.priority.in_(queue.priorities))
        if queue.types:
            conditions.append(WorkOrder.type.in_(queue.types))
        if queue.client_id is not None:
            conditions.append(WorkOrder.client_id == queue.client_id)
        if queue.site_id is not None:
            conditions.append(WorkOrder.site_id == queue.site_id)
        if queue.skill is not None:
            # The skill's id as a scalar subquery (not a join): the plan then probes the
            # links' primary key per order in queue order, instead of hashing every link.
            skill_id = select(Skill.id).where(Skill.code == queue.skill).scalar_subquery()
            conditions.append(
                exists(
                    select(work_order_skills.c.work_order_id).where(
                        work_order_skills.c.work_order_id == WorkOrder.id,
                        work_order_skills.c.skill_id == skill_id,
                    )
                )
            )
        if queue.engineer_id is not None:
            conditions.append(
                exists(
                    select(Visit.id).where(
                        Visit.work_order_id == WorkOrder.id, Visit.engineer_id == queue.engineer_id
                    )
                )
            )
        if queue.created_from is not None:
            conditions.append(WorkOrder.created_at >= queue.created_from)
        if queue.created_to is not None:
            conditions.append(WorkOrder.created_at < queue.created_to)
        if queue.no_reaction_within_minutes is not None:
            conditions.append(WorkOrder.first_response_at.is_(None))
            conditions.append(
                WorkOrder.created_at < now - timedelta(minutes=queue.no_reaction_within_minutes)
            )
        if queue.text:
            pattern = like_pattern(queue.text)
            conditions.append(WorkOrder.title.ilike(pattern) | WorkOrder.number.ilike(pattern))
        breached = (
            WorkOrder.is_reaction_breached
            | WorkOrder.is_resolution_breached
            # No running deadline (paused, finished, no policy) is not a breach.
            | (WorkOrder.sla_next_due_at.is_not(None) & (WorkOrder.sla_next_due_at < now))
        )
        if queue.sla_state is SlaState.BREACHED:
            conditions.append(breached)
        elif queue.sla_state is SlaState.AT_RISK:
            conditions.append(~breached)
            # Implied by "not breached", said outright so the plan scans just that range.
            conditions.append(WorkOrder.sla_next_due_at >= now)
            conditions.append(WorkOrder.sla_next_due_at < now + self.warning)
        elif queue.sla_state is SlaState.OK:
            conditions.append(~breached)
            conditions.append(
                WorkOrder.sla_next_due_at.is_(None)
                | (WorkOrder.sla_next_due_at >= now + self.warning)
            )
        return conditions

    async def timeline(
        self, work_order_id: uuid.UUID, *, viewer: Principal
    ) -> Sequence[WorkOrderEvent]:
        """The work order's events in order; clients see only the public ones."""
        await self.get(work_order_id, viewer=viewer)
        stmt = select(WorkOrderEvent).where(
            WorkOrderEvent.work_order_id == work_order_id, *events_visible_to(viewer)
        )
        return (await self.session.scalars(stmt.order_by(WorkOrderEvent.id))).all()

    async def comments(self, work_order_id: uuid.UUID, *, viewer: Principal) -> Sequence[Comment]:
        """Comments in order; internal ones only for staff and engineers."""
        await self.get(work_order_id, viewer=viewer)
        stmt = select(Comment).where(
            Comment.work_order_id == work_order_id, *comments_visible_to(viewer)
        )
        return (await self.session.scalars(stmt.order_by(Comment.created_at, Comment.id))).all()

    # -- ratings --------------------------------------------------------------------------

    async def rating_of(self, work_order_id: uuid.UUID) -> WorkOrderRating | None:
        return (
            await self.session.scalars(
                select(WorkOrderRating).where(WorkOrderRating.work_order_id == work_order_id)
            )
        ).one_or_none()

    async def rate(
        self, work_order_id: uuid.UUID, score: int, comment: str | None, *, actor: Principal
    ) -> WorkOrderRating:
        """The client rates resolved or closed work, once; staff read it on the timeline."""
        if not actor.is_client:
            raise Forbidden("only the client rates its work")
        work_order = await self.get(work_order_id, viewer=actor, for_update=True)
        if work_order.status not in RATEABLE:
            raise RatingNotAllowed(
                f"only resolved or closed requests can be rated; this one is {work_order.status}",
                details={"status": work_order.status.value},
            )
        if await self.rating_of(work_order.id) is not None:
            raise AlreadyRated(f"request {work_order.number} has been rated already")
        rating = WorkOrderRating(
            work_order_id=work_order.id,
            rated_by_id=actor.user_id,
            score=score,
            comment=comment.strip() if comment and comment.strip() else None,
            created_at=utcnow(),
        )
        self.session.add(rating)
        try:
            # A savepoint: a rating racing in past the lock check is still a clean 409.
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise AlreadyRated(f"request {work_order.number} has been rated already") from exc
        data: dict[str, Any] = {"score": score, "comment": rating.comment}
        self.log(work_order, "rated", actor, data, Visibility.PUBLIC)
        if score <= LOW_RATING:
            self.tell(
                work_order,
                EventKind.LOW_RATING,
                staff={"score": score, "comment": rating.comment},
            )
        await self.session.flush()
        return rating

    async def open_visit_count(self, work_order_id: uuid.UUID) -> int:
        """Visits not yet completed or cancelled."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(Visit)
            .where(Visit.work_order_id == work_order_id, Visit.status.in_(OPEN_VISIT_STATUSES))
        )
        return count or 0

    # -- changing -------------------------------------------------------------------------

    async def create(self, draft: WorkOrderDraft, *, actor: Principal) -> WorkOrder:
        """Open a work order: number it, start its SLA clock, log it on the timeline."""
        site = await self.session.get(Site, draft.site_id)
        if site is None or (actor.is_client and not actor.may_see_site(site.client_id, site.id)):
            # Another company's site, or one outside a limited user's: no such site for them.
            raise reference_error("site_id", "no such site")
        if actor.is_engineer:
            raise Forbidden("engineers do not open work orders")
        priority, channel = draft.priority, draft.channel
        if actor.is_client:
            # Clients do not set priorities (internal) and always come through their app.
            priority, channel = Priority.NORMAL, Channel.CLIENT_APP
        if actor.is_client:
            # Custom fields are the back office's; a client neither sees nor fills them, so
            # fields required at creation are the staff's to complete before resolving.
            custom: dict[str, Any] = {}
        else:
            definitions = await CustomFieldService(self.session).definitions(draft.type)
            custom = validate_custom_fields(
                definitions, draft.custom_fields, stage=RequiredAt.CREATION
            )
        return await self._open(
            draft, site, priority=priority, channel=channel, custom=custom, actor=actor
        )

    async def open_follow_up(
        self, draft: WorkOrderDraft, *, found_by: Principal, internal_note: str
    ) -> WorkOrder:
        """A system action: open the follow-up of something found on site (a checklist finding).

        The engineer who found it may not open work orders, and is not made to look like a
        dispatcher who did: the order is the back office's, created by the finder's report,
        its custom fields left for staff to fill as for a client's request. `internal_note`
        (what was found) goes on it as the finder's internal comment; being no staff reply,
        it does not stop the first-response clock.
        """
        site = await self.session.get(Site, draft.site_id)
        if site is None:
            raise reference_error("site_id", "no such site")
        work_order = await self._open(
            draft, site, priority=draft.priority, channel=draft.channel, custom={}, actor=found_by
        )
        comment = Comment(
            work_order_id=work_order.id,
            author_id=found_by.user_id,
            body=internal_note,
            is_internal=True,
        )
        self.session.add(comment)
        await self.session.flush()
        self.log(
            work_order,
            "comment_added",
            found_by,
            {"comment_id": str(comment.id)},
            Visibility.INTERNAL,
        )
        await self.session.flush()
        return work_order

    async def _open(
        self,
        draft: WorkOrderDraft,
        site: Site,
        *,
        priority: Priority,
        channel: Channel,
        custom: dict[str, Any],
        actor: Principal | None,
        created_by_id: uuid.UUID | None = None,
    ) -> WorkOrder:
        """Number a new order, start its clock, log it; `created_by_id` is for a missing actor."""
        if actor is not None:
            created_by_id = actor.user_id
        skills = await SkillService(self.session).by_codes(
            draft.required_skills, field="required_skills"
        )
        now = utcnow()
        facts = await self.coverage(
            self.session, client_id=site.client_id, equipment_id=draft.equipment_id, on=now.date()
        )
        if draft.equipment_id is not None and facts.equipment_site_id not in (None, site.id):
            raise field_error("equipment_id", "this equipment is installed at another site")
        if draft.requester_contact_id is not None:
            requester = await self.session.get(ClientContact, draft.requester_contact_id)
            if requester is None or requester.client_id != site.client_id:
                raise reference_error("requester_contact_id", "no such contact of this client")
        work_order = WorkOrder(
            number=await self._next_number(now.year),
            client_id=site.client_id,
            site_id=site.id,
            equipment_id=draft.equipment_id,
            contract_id=facts.contract_id,
            requester_contact_id=draft.requester_contact_id,
            type=draft.type,
            priority=priority,
            channel=channel,
            status=S.NEW,
            title=draft.title.strip(),
            description=draft.description,
            custom_fields=custom,
            created_by_id=created_by_id,
            created_at=now,
            required_skills=skills,
            pauses=[],
            rating=None,
        )
        self.session.add(work_order)
        policy = (
            await self.policies.current_policy(facts.sla_policy_id)
            if facts.sla_policy_id is not None
            else await self.policies.default_policy()
        )
        await self.sla.start_clock(work_order, policy)
        await self.session.flush()
        self.log(
            work_order,
            "created",
            actor,
            {"number": work_order.number},
            Visibility.PUBLIC,
            actor_id=created_by_id,
        )
        self.tell(work_order, EventKind.REQUEST_RECEIVED)
        if priority is Priority.CRITICAL:
            self.tell(work_order, EventKind.CRITICAL_REQUEST, staff={"priority": priority.value})
        await self.session.flush()
        return work_order

    async def open_by_mail(
        self, draft: WorkOrderDraft, *, sender_id: uuid.UUID | None
    ) -> WorkOrder:
        """A system action: open the request a client mailed to the support address.

        It is a client's request like one from the app: normal priority (priorities are
        internal), no custom fields (staff complete them), channel `email`. `sender_id` is
        the client user who wrote, when the sender's address is one.
        """
        site = await self.session.get(Site, draft.site_id)
        if site is None:
            raise field_error("site_id", "no such site")
        return await self._open(
            draft,
            site,
            priority=Priority.NORMAL,
            channel=Channel.EMAIL,
            custom={},
            actor=None,
            created_by_id=sender_id,
        )

    async def add_mailed_comment(
        self, work_order_id: uuid.UUID, body: str, *, author_id: uuid.UUID | None
    ) -> Comment:
        """A system action: a client's mailed reply becomes a public comment on its order.

        The caller has matched the sender to the order's company; being the client's words,
        it does not count as the first reaction.
        """
        work_order = await self.session.get(WorkOrder, work_order_id, with_for_update=True)
        if work_order is None:
            raise WorkOrderNotFound(f"work order {work_order_id} not found")
        comment = Comment(
            work_order_id=work_order.id, author_id=author_id, body=body, is_internal=False
        )
        self.session.add(comment)
        await self.session.flush()
        self.log(
            work_order,
            "comment_added",
            None,
            {"comment_id": str(comment.id), "channel": Channel.EMAIL.value},
            Visibility.PUBLIC,
            actor_id=author_id,
        )
        self._tell_public_comment(work_order, comment, author_name=None, is_from_client=True)
        await self.session.flush()
        await self.session.refresh(comment)
        return comment

    async def open_scheduled(
        self, work: Sequence[ScheduledWork], *, now: datetime
    ) -> set[uuid.UUID]:
        """Open many scheduled maintenance orders at once: the same rules as `create`.

        Numbered from the year's counter (one update for the batch), on the contract's SLA
        policy or else the default one, with their skills and a public `created` event, each
        opened `now` by the plan (no user). Planned work is due by its service period, not
        by a reaction target: no reaction deadline, resolution (and the next deadline) at
        `due_at`, so an order generated days ahead is neither at risk nor breached until
        its period's end approaches. A service period that has an order already is skipped
        (the unique `service_period_id`), so a second run opens nothing twice.
        Returns the ids opened. Set-based: one INSERT ... SELECT over arrays per table.
        """
        if not work:
            return set()
        default = await self.policies.default_policy()
        # A contract names a policy; its order runs on that policy's current version.
        current = await self.policies.current_policies(
            {w.sla_policy_id for w in work if w.sla_policy_id is not None}
        )
        chosen = [
            current[w.sla_policy_id] if w.sla_policy_id is not None else default for w in work
        ]
        first = await self._reserve_numbers(now.year, len(work))
        opened = (
            await self.session.execute(
                text(_OPEN_SCHEDULED),
                {
                    "ids": [w.id for w in work],
                    "clients": [w.client_id for w in work],
                    "sites": [w.site_id for w in work],
                    "equipment": [w.equipment_id for w in work],
                    "contracts": [w.contract_id for w in work],
                    "periods": [w.service_period_id for w in work],
                    "policies": [p.id if p is not None else None for p in chosen],
                    "versions": [p.version if p is not None else None for p in chosen],
                    "titles": [w.title for w in work],
                    "descriptions": [w.description for w in work],
                    "due": [w.due_at for w in work],
                    "year": str(now.year),
                    "first": first,
                    "now": now,
                },
            )
        ).all()
        created = {order_id for order_id, _ in opened}
        if not created:
            return created
        skill_links = [(w.id, s) for w in work if w.id in created for s in w.skill_ids]
        if skill_links:
            await self.session.execute(
                text(
                    "INSERT INTO work_order_skills (work_order_id, skill_id) "
                    "SELECT * FROM unnest(CAST(:orders AS uuid[]), CAST(:skills AS uuid[]))"
                ),
                {"orders": [o for o, _ in skill_links], "skills": [s for _, s in skill_links]},
            )
        await self.session.execute(
            text(
                "INSERT INTO work_order_events "
                "(work_order_id, kind, visibility, occurred_at, data) "
                "SELECT id, 'created', 'public', :now, "
                "jsonb_build_object('number', number, 'source', 'maintenance_plan') "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:numbers AS text[])) AS e(id, number)"
            ),
            {
                "ids": [order_id for order_id, _ in opened],
                "numbers": [number for _, number in opened],
                "now": now,
            },
        )
        return created

    async def _reserve_numbers(self, year: int, count: int) -> int:
        """Take `count` consecutive numbers of the year at once; return the first."""
        stmt = (
            insert(WorkOrderCounter)
            .values(year=year, last_number=count)
            .on_conflict_do_update(
                index_elements=[WorkOrderCounter.year],
                set_={"last_number": WorkOrderCounter.last_number + count},
            )
            .returning(WorkOrderCounter.last_number)
        )
        last = (await self.session.execute(stmt)).scalar_one()
        return int(last) - count + 1

    async def _next_number(self, year: int) -> str:
        """WO-<year>-<n>: gap-free per year; the counter row serialises concurrent openings."""
        stmt = (
            insert(WorkOrderCounter)
            .values(year=year, last_number=1)
            .on_conflict_do_update(
                index_elements=[WorkOrderCounter.year],
                set_={"last_number": WorkOrderCounter.last_number + 1},
            )
            .returning(WorkOrderCounter.last_number)
        )
        number = (await self.session.execute(stmt)).scalar_one()
        return f"WO-{year}-{number:06d}"

    async def transition(
        self,
        work_order_id: uuid.UUID,
        to: WorkOrderStatus,
        *,
        actor: Principal,
        reason: str | None = None,
        client_message: str | None = None,
    ) -> WorkOrder:
        """Move a work order by hand (staff), along the allowed moves only.

        Its visits are not this service's: `VisitService.transition_work_order` is the
        move the API makes, and cancels the open visits of a cancelled order.

        Args:
            reason: why, for the office only ("waiting for overdue payment").
            client_message: what the client reads on its timeline ("parts on order").
        """
        work_order = await self.get(work_order_id, viewer=actor, for_update=True)
        if to is S.REOPENED:
            return await self._reopen(
                work_order, actor=actor, reason=reason, client_message=client_message
            )
        if to is S.RESOLVED:
            open_visits = await self.open_visit_count(work_order.id)
            if open_visits:
                raise OpenVisitsRemain(
                    "complete or cancel the open visits before resolving",
                    details={"open_visits": open_visits},
                )
            definitions = await CustomFieldService(self.session).definitions(work_order.type)
            validate_custom_fields(
                definitions, work_order.custom_fields, stage=RequiredAt.RESOLUTION
            )
        await self.change_status(
            work_order, to, actor=actor, reason=reason, client_message=client_message
        )
        return work_order

    async def reopen(
        self,
        work_order_id: uuid.UUID,
        *,
        actor: Principal,
        reason: str | None = None,
        client_message: str | None = None,
    ) -> WorkOrder:
        """Reopen a resolved work order within the reopen window (clients and staff).

        A client's reason is its own words, so it is public; a staff reason stays internal.
        """
        if actor.is_engineer:
            raise Forbidden("engineers cannot reopen work orders")
        if actor.is_client:
            reason, client_message = None, reason
        work_order = await self.get(work_order_id, viewer=actor, for_update=True)
        return await self._reopen(
            work_order, actor=actor, reason=reason, client_message=client_message
        )

    async def _reopen(
        self,
        work_order: WorkOrder,
        *,
        actor: Principal,
        reason: str | None,
        client_message: str | None,
    ) -> WorkOrder:
        if work_order.status is not S.RESOLVED:
            raise IllegalTransition(
                f"only resolved work orders can be reopened; this one is {work_order.status}",
                details={"status": work_order.status.value, "allowed": _allowed(work_order.status)},
            )
        window = timedelta(days=self.settings.reopen_window_days)
        assert work_order.resolved_at is not None  # resolved orders carry the instant
        if utcnow() > work_order.resolved_at + window:
            raise ReopenWindowClosed(
                f"the {self.settings.reopen_window_days}-day reopen window has passed; "
                "please open a new request",
                details={"reopen_until": (work_order.resolved_at + window).isoformat()},
            )
        work_order.reopen_count += 1
        await self.change_status(
            work_order, S.REOPENED, actor=actor, reason=reason, client_message=client_message
        )
        return work_order

    async def change_status(
        self,
        work_order: WorkOrder,
        to: WorkOrderStatus,
        *,
        actor: Principal | None,
        reason: str | None = None,
        client_message: str | None = None,
        check: bool = True,
    ) -> None:
        """Apply a status change with its SLA effects and timeline entries (flushes).

        The public entry carries only `client_message`; `reason` goes to an internal entry
        beside it, since staff write reasons ("waiting for overdue payment") for each other.
        """
        old = work_order.status
        if old is to:
            return
        if check and to not in TRANSITIONS[old]:
            raise IllegalTransition(
                f"a {old} work order cannot become {to}; allowed: "
                + (", ".join(_allowed(old)) or "none"),
                details={"status": old.value, "allowed": _allowed(old)},
            )
        now = utcnow()
        if to is S.ON_HOLD:
            work_order.status_before_hold = old
        work_order.status = to
        await self.sla.on_status_change(work_order, old, to, now, reason=reason)
        data = {"from": old.value, "to": to.value}
        if client_message:
            data["message"] = client_message
        self.log(work_order, "status_changed", actor, data, Visibility.PUBLIC)
        # The client's live view follows every move; the message is the client's to read.
        told: dict[str, Any] = {"status": to.value, "previous_status": old.value}
        if client_message:
            told["message"] = client_message
        self.tell(work_order, EventKind.REQUEST_STATUS_CHANGED, payload=told)
        if to is S.RESOLVED:
            self.tell(work_order, EventKind.REQUEST_RESOLVED)
        if reason:
            self.log(
                work_order,
                "status_reason",
                actor,
                {"to": to.value, "reason": reason},
                Visibility.INTERNAL,
            )
        await self.session.flush()

    async def change_priority(
        self, work_order_id: uuid.UUID, priority: Priority, *, actor: Principal
    ) -> WorkOrder:
        """Change the (internal) priority; deadlines follow the new targets."""
        work_order = await self.get(work_order_id, viewer=actor, for_update=True)
        if work_order.priority is priority:
            return work_order
        old = work_order.priority
        work_order.priority = priority
        await self.sla.recompute(work_order, utcnow())
        self.log(
            work_order,
            "priority_changed",
            actor,
            {"from": old.value, "to": priority.value},
            Visibility.INTERNAL,
        )
        if priority is Priority.CRITICAL:
            self.tell(work_order, EventKind.CRITICAL_REQUEST, staff={"priority": priority.value})
        await self.session.flush()
        return work_order

    async def update_details(
        self,
        work_order_id: uuid.UUID,
        *,
        actor: Principal,
        title: str | None = None,
        description: str | None = None,
        required_skills: Sequence[str] | None = None,
        custom_fields: dict[str, Any] | None = None,
    ) -> WorkOrder:
        """Change title, description, required skills or custom fields (staff)."""
        work_order = await self.get(work_order_id, viewer=actor, for_update=True)
        if work_order.status in (S.CLOSED, S.CANCELLED):
            raise InvalidState(f"a {work_order.status} work order cannot be edited")
        if title is not None:
            work_order.title = title.strip()
        if description is not None:
            work_order.description = description
        if required_skills is not None:
            work_order.required_skills = await SkillService(self.session).by_codes(
                required_skills, field="required_skills"
            )
        if custom_fields is not None:
            definitions = await CustomFieldService(self.session).definitions(work_order.type)
            merged = {**work_order.custom_fields, **custom_fields}
            work_order.custom_fields = validate_custom_fields(
                definitions, merged, stage=RequiredAt.CREATION
            )
        await self.session.flush()
        return work_order

    async def add_comment(
        self, work_order_id: uuid.UUID, body: str, *, actor: Principal, is_internal: bool
    ) -> Comment:
        """Comment on a work order; a public staff comment counts as the first reaction."""
        if is_internal and actor.is_client:
            raise Forbidden("clients cannot write internal comments")
        work_order = await self.get(work_order_id, viewer=actor, for_update=True)
        comment = Comment(
            work_order_id=work_order.id,
            author_id=actor.user_id,
            body=body,
            is_internal=is_internal,
        )
        self.session.add(comment)
        await self.session.flush()
        if actor.is_staff and not is_internal and work_order.first_response_at is None:
            self.sla.mark_first_response(work_order, utcnow())
            await self.sla.recompute(work_order, utcnow())
        self.log(
            work_order,
            "comment_added",
            actor,
            {"comment_id": str(comment.id)},
            Visibility.INTERNAL if is_internal else Visibility.PUBLIC,
        )
        if not is_internal:
            self._tell_public_comment(
                work_order,
                comment,
                author_name=actor.full_name,
                is_from_client=actor.is_client,
            )
        await self.session.flush()
        await self.session.refresh(comment)
        return comment

    def _tell_public_comment(
        self,
        work_order: WorkOrder,
        comment: Comment,
        *,
        author_name: str | None,
        is_from_client: bool,
    ) -> None:
        """A public comment for the client's live view: its text and the author's first name."""
        first_name = author_name.split()[0] if author_name and author_name.split() else None
        self.tell(
            work_order,
            EventKind.PUBLIC_COMMENT_ADDED,
            payload={
                "comment_id": str(comment.id),
                "body": comment.body,
                "author_first_name": first_name,
                "is_from_client": is_from_client,
            },
        )

    def log(
        self,
        work_order: WorkOrder,
        kind: str,
        actor: Principal | None,
        data: dict[str, Any],
        visibility: Visibility,
        *,
        actor_id: uuid.UUID | None = None,
    ) -> None:
        """Append an event to the work order's timeline (`actor_id` when no actor acts)."""
        self.session.add(
            WorkOrderEvent(
                work_order_id=work_order.id,
                kind=kind,
                visibility=visibility,
                actor_id=actor.user_id if actor is not None else actor_id,
                occurred_at=utcnow(),
                data=data,
            )
        )

    def tell(
        self,
        work_order: WorkOrder,
        kind: EventKind,
        *,
        visit_id: uuid.UUID | None = None,
        engineer_id: uuid.UUID | None = None,
        payload: dict[str, Any] | None = None,
        staff: dict[str, Any] | None = None,
    ) -> None:
        """Put an event about the work order in the outbox (told after the commit).

        The payload always names the order by number and title, which its client may read;
        `staff` carries what only the office may.
        """
        record(
            self.session,
            kind,
            client_id=work_order.client_id,
            work_order_id=work_order.id,
            visit_id=visit_id,
            engineer_id=engineer_id,
            payload={"number": work_order.number, "title": work_order.title, **(payload or {})},
            staff=staff,
        )

    async def follow_visits(self, work_order: WorkOrder, *, actor: Principal | None) -> None:
        """The work order's status follows its visits.

        An assigned visit schedules a new order; the first engineer on the way puts it in
        progress. Completing every visit leaves it for a person to resolve.
        """
        statuses = (
            await self.session.scalars(
                select(Visit.status).where(Visit.work_order_id == work_order.id)
            )
        ).all()
        if work_order.status in (S.NEW, S.REOPENED, S.SCHEDULED) and any(
            s in (V.EN_ROUTE, V.ON_SITE, V.COMPLETED) for s in statuses
        ):
            await self.change_status(work_order, S.IN_PROGRESS, actor=actor)
        elif work_order.status in (S.NEW, S.REOPENED) and V.ASSIGNED in statuses:
            await self.change_status(work_order, S.SCHEDULED, actor=actor)
        elif work_order.status is S.SCHEDULED and not any(
            s in (V.ASSIGNED, V.EN_ROUTE, V.ON_SITE, V.COMPLETED) for s in statuses
        ):
            # Every visit unassigned or cancelled: nobody is scheduled any more.
            await self.change_status(work_order, S.NEW, actor=actor)


def _allowed(status: WorkOrderStatus) -> builtins.list[str]:
    return sorted(s.value for s in TRANSITIONS[status])
