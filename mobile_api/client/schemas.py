"""Client-app wire types: small, and free of priorities, SLA internals, costs and surnames."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from equipment.contracts.models import ContractStatus
from equipment.equipment.models import EquipmentStatus
from equipment.service_periods.models import PeriodStatus
from fsm.schemas import BigCount, Count, Kilometres
from fsm.workorders.models import WorkOrderStatus, WorkOrderType
from fsm.workorders.visit_models import VisitStatus

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
Description = Annotated[str, msgspec.Meta(max_length=20_000)]
CommentBody = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000, pattern=r"\S")]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
Score = Annotated[int, msgspec.Meta(ge=1, le=5, description="1 (poor) to 5 (excellent)")]
RatingComment = Annotated[str, msgspec.Meta(max_length=2000)]


# -- equipment ------------------------------------------------------------------------------


class EquipmentItem(msgspec.Struct, kw_only=True):
    """A unit in the client's equipment list."""

    id: uuid.UUID
    serial_number: str
    name: str | None
    manufacturer: str
    model: str
    category: str
    status: EquipmentStatus
    site_id: uuid.UUID
    site_name: str


class CoverageInForce(msgspec.Struct, kw_only=True):
    """Whether a contract covers the unit today, and which."""

    is_covered: bool
    contract_id: uuid.UUID | None = None
    contract_number: str | None = None
    valid_to: date | None = None


class PeriodItem(msgspec.Struct, kw_only=True):
    """A service period: the window in which one maintenance visit is owed."""

    id: uuid.UUID
    equipment_id: uuid.UUID
    starts_on: date
    ends_on: date
    status: PeriodStatus
    request_id: uuid.UUID | None


class VisitSummary(msgspec.Struct, kw_only=True):
    """A visit as the client sees it in lists; the full report has its own endpoint."""

    id: uuid.UUID
    request_id: uuid.UUID
    request_number: str
    status: VisitStatus
    window_starts_at: datetime
    window_ends_at: datetime
    planned_start_at: datetime | None
    completed_at: datetime | None
    labour_minutes: Count | None
    engineer_first_name: str | None
    has_report: bool


class OpenRequestItem(msgspec.Struct, kw_only=True):
    """An open request on a unit."""

    id: uuid.UUID
    number: str
    title: str
    status: WorkOrderStatus
    created_at: datetime


class EquipmentDetail(msgspec.Struct, kw_only=True):
    """One unit: model, site, coverage, the next service period, last visits, open requests."""

    id: uuid.UUID
    serial_number: str
    name: str | None
    status: EquipmentStatus
    manufacturer: str
    model: str
    category: str
    installed_on: date | None
    warranty_ends_on: date | None
    site_id: uuid.UUID
    site_name: str
    site_address: str
    coverage: CoverageInForce
    current_period: PeriodItem | None
    next_period: PeriodItem | None
    last_visits: list[VisitSummary]
    open_requests: list[OpenRequestItem]


# -- contracts ------------------------------------------------------------------------------


class ContractItem(msgspec.Struct, kw_only=True):
    """A contract in the client's list: no rates, no billing terms."""

    id: uuid.UUID
    number: str
    status: ContractStatus
    valid_from: date
    valid_to: date
    is_in_force: bool
    covered_units: Count


class CoveredUnit(msgspec.Struct, kw_only=True):
    """A unit under the contract and its maintenance rhythm."""

    equipment_id: uuid.UUID
    serial_number: str
    name: str | None
    manufacturer: str
    model: str
    site_id: uuid.UUID
    site_name: str
    starts_on: date
    ends_on: date
    interval_count: Count
    interval_unit: str


class ContractDetail(msgspec.Struct, kw_only=True):
    """A contract with its covered units and their service periods."""

    id: uuid.UUID
    number: str
    status: ContractStatus
    valid_from: date
    valid_to: date
    is_in_force: bool
    covered_units: list[CoveredUnit]
    service_periods: list[PeriodItem]


# -- requests -------------------------------------------------------------------------------


class RequestState(enum.StrEnum):
    """The list filter: still being worked on, or done with."""

    OPEN = "open"
    CLOSED = "closed"


class Stage(enum.StrEnum):
    """Where a request stands in the client's words, live visits included."""

    RECEIVED = "received"
    SCHEDULED = "scheduled"
    ENGINEER_EN_ROUTE = "engineer_en_route"
    ENGINEER_ON_SITE = "engineer_on_site"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class EtaSource(enum.StrEnum):
    """How an arrival time was worked out."""

    PLANNED_START = "planned_start"
    TRAVEL_ESTIMATE = "travel_estimate"


class RequestCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new request: about a unit (its site is implied) or about a site."""

    title: Title
    description: Description = ""
    equipment_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    type: WorkOrderType = WorkOrderType.REPAIR


class ReopenBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why the work is not done after all."""

    reason: Reason | None = None


class CommentBodyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A client comment; always public."""

    body: CommentBody


class RatingCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The client's verdict on resolved work."""

    score: Score
    comment: RatingComment | None = None


class RatingRead(msgspec.Struct, kw_only=True):
    """A rating as given."""

    score: Score
    comment: str | None
    created_at: datetime


class RequestItem(msgspec.Struct, kw_only=True):
    """A request in the client's list."""

    id: uuid.UUID
    number: str
    title: str
    type: WorkOrderType
    status: WorkOrderStatus
    site_id: uuid.UUID
    site_name: str
    equipment_id: uuid.UUID | None
    created_at: datetime
    resolved_at: datetime | None


class Eta(msgspec.Struct, kw_only=True):
    """When the engineer on the way should arrive, and how that was worked out."""

    arrives_at: datetime
    source: EtaSource
    distance_km: Kilometres | None = None


class EngineerOnRequest(msgspec.Struct, kw_only=True):
    """Who is coming: the first name only."""

    first_name: str
    visit_id: uuid.UUID
    visit_status: VisitStatus


class TimelineEntry(msgspec.Struct, kw_only=True):
    """A public timeline entry, with only the facts a client may read."""

    id: BigCount
    kind: str
    occurred_at: datetime
    data: dict[str, Any]


class RequestDetail(msgspec.Struct, kw_only=True):
    """One request: status, stage, who is coming and when, visits, timeline, rating."""

    id: uuid.UUID
    number: str
    title: str
    description: str
    type: WorkOrderType
    status: WorkOrderStatus
    stage: Stage
    site_id: uuid.UUID
    site_name: str
    site_address: str
    equipment_id: uuid.UUID | None
    created_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_until: datetime | None
    can_rate: bool
    engineer: EngineerOnRequest | None
    eta: Eta | None
    visits: list[VisitSummary]
    timeline: list[TimelineEntry]
    rating: RatingRead | None


class CommentItem(msgspec.Struct, kw_only=True):
    """A public comment; staff and engineers by first name."""

    id: uuid.UUID
    body: str
    author_first_name: str | None
    is_from_client: bool
    is_mine: bool
    created_at: datetime


# -- visit report ---------------------------------------------------------------------------


class TrailStep(msgspec.Struct, kw_only=True):
    """When the visit reached a status (no positions: those stay with the engineer)."""

    status: VisitStatus
    occurred_at: datetime


class ReportPhoto(msgspec.Struct, kw_only=True):
    """A client-visible photo, as a short-lived download link."""

    id: uuid.UUID
    url: str
    thumbnail_url: str | None
    content_type: str
    taken_at: datetime | None


class ReportSignature(msgspec.Struct, kw_only=True):
    """Who signed for the client at completion, when, and the signature image's link."""

    photo_id: uuid.UUID
    signer_name: str
    signed_at: datetime
    # Null until the image is checked (thumbnailed); the name and time stand without it.
    url: str | None


class VisitReport(msgspec.Struct, kw_only=True):
    """What was done on a visit: times, who, labour, the engineer's summary, checks, photos."""

    visit_id: uuid.UUID
    request_id: uuid.UUID
    request_number: str
    request_title: str
    equipment_id: uuid.UUID | None
    site_name: str
    # Times are UTC; this is the zone to show them in (the PDF does).
    site_timezone: str
    status: VisitStatus
    engineer_first_name: str | None
    arrived_at: datetime | None
    completed_at: datetime | None
    labour_minutes: Count | None
    # Written by the engineer for the client on completion (never the internal note).
    client_summary: str | None
    trail: list[TrailStep]
    checklist: Any | None
    photos: list[ReportPhoto]
    signature: ReportSignature | None = None
