"""Wire types of the engineer app: small answers that each render one screen."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from checklists.models import RunStatus
from checklists.schemas import RunRead
from fsm.geo import GeoPoint
from fsm.schemas import AwareDatetime, Count, ErrorDetail
from fsm.visits.schemas import StatusEventRead
from fsm.workorders.models import WorkOrderType
from fsm.workorders.visit_models import VisitStatus

Note = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=24 * 60)]
ClientSummary = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"\S")]


# -- reading ----------------------------------------------------------------------------------


class SiteCard(msgspec.Struct, kw_only=True):
    """Where to go: address, point, how to get in, when it is open."""

    id: uuid.UUID
    name: str
    address: str
    city: str | None
    postal_code: str | None
    timezone: str
    # None: the site is unlocated (imported without coordinates).
    location: GeoPoint | None
    access_notes: str | None
    opening_hours: list[dict[str, Any]]


class WorkOrderCard(msgspec.Struct, kw_only=True):
    """What the job is; `is_urgent` stands in for the internal priority."""

    id: uuid.UUID
    number: str
    title: str
    type: WorkOrderType
    is_urgent: bool


class EquipmentCard(msgspec.Struct, kw_only=True):
    """The unit to work on."""

    id: uuid.UUID
    serial_number: str
    name: str | None
    manufacturer: str
    model: str
    category: str


class ChecklistState(msgspec.Struct, kw_only=True):
    """The visit's checklist at a glance."""

    template_name: str
    version: Count
    status: RunStatus
    required_total: Count
    required_answered: Count
    findings: Count


class EngineerVisit(msgspec.Struct, kw_only=True):
    """One visit on the engineer's route."""

    id: uuid.UUID
    status: VisitStatus
    route_position: Count | None
    planned_arrival_at: datetime | None
    window_starts_at: datetime
    window_ends_at: datetime
    estimated_minutes: Count
    labour_minutes: Count | None
    completed_at: datetime | None
    version: Count
    site: SiteCard
    work_order: WorkOrderCard
    equipment: EquipmentCard | None
    checklist: ChecklistState | None
    map_url: str | None
    geo_uri: str | None


class TodayRead(msgspec.Struct, kw_only=True):
    """The engineer's day in route order."""

    date: date
    timezone: str
    visits: list[EngineerVisit]


class HistoryEntry(msgspec.Struct, kw_only=True):
    """An earlier visit to the same unit and how it went."""

    visit_id: uuid.UUID
    work_order_number: str
    work_order_type: WorkOrderType
    status: VisitStatus
    window_starts_at: datetime
    completed_at: datetime | None
    checklist_status: RunStatus | None
    findings: Count
    photo_count: Count


class CoverageRead(msgspec.Struct, kw_only=True):
    """Whether the unit is under contract today (out of contract is billed separately)."""

    is_in_contract: bool
    contract_number: str | None = None
    valid_to: date | None = None


class CommentRead(msgspec.Struct, kw_only=True):
    """A comment on the visit's work order; `is_internal` ones never reach the client."""

    id: uuid.UUID
    work_order_id: uuid.UUID
    author_name: str | None
    is_mine: bool
    is_internal: bool
    body: str
    created_at: datetime


class SiteContact(msgspec.Struct, kw_only=True):
    """Someone at the client to call about the visit."""

    name: str
    position: str | None
    phone: str | None
    email: str | None


class VisitDetail(msgspec.Struct, kw_only=True):
    """Everything to work one visit: the job, the unit's history, coverage, checklist."""

    visit: EngineerVisit
    description: str
    instructions: str | None
    # The site's contacts, and the person who asked for the work (when staff recorded one).
    site_contacts: list[SiteContact]
    requester: SiteContact | None
    coverage: CoverageRead | None
    equipment_history: list[HistoryEntry]
    checklist: RunRead | None
    comments: list[CommentRead]
    trail: list[StatusEventRead]


# -- changing ---------------------------------------------------------------------------------


class FieldStatus(enum.StrEnum):
    """The moves an engineer reports from the app."""

    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    CANNOT_COMPLETE = "cannot_complete"


class CannotCompleteReason(enum.StrEnum):
    """Why a visit could not be finished."""

    NO_ACCESS = "no_access"
    PARTS_NEEDED = "parts_needed"
    CLIENT_ABSENT = "client_absent"
    OTHER = "other"


class SignatureIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The client's signature: an image uploaded as a photo of this visit, who, and when."""

    photo_id: uuid.UUID
    signer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
    # When they signed; defaults to the completion's device time (or the server's).
    signed_at: AwareDatetime | None = None


class StatusRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A status move with the device's time and position.

    `labour_minutes` and `client_summary` go with `completed`; `reason` (and a `note` for
    `other`) with `cannot_complete`. `note` is internal; `client_summary` is what the client
    reads on the visit report. `device_at` needs a UTC offset and may not be ahead of the
    server's clock by more than a few minutes.
    """

    status: FieldStatus
    device_at: AwareDatetime | None = None
    location: GeoPoint | None = None
    labour_minutes: Minutes | None = None
    reason: CannotCompleteReason | None = None
    note: Note | None = None
    client_summary: ClientSummary | None = None
    # With `completed`: the client signed for the work (it shows on the visit report).
    signature: SignatureIn | None = None


class LocationPing(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One position fix of the phone."""

    device_at: AwareDatetime
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None


class LocationBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Position fixes collected since the last upload."""

    points: Annotated[list[LocationPing], msgspec.Meta(min_length=1, max_length=1000)]


class LocationRead(msgspec.Struct, kw_only=True):
    """The engineer's last known position after the upload."""

    last_location: GeoPoint | None
    last_location_at: datetime | None
    is_updated: bool


class CommentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A comment from the field; internal unless `is_public`."""

    body: Annotated[str, msgspec.Meta(min_length=1, max_length=5000, pattern=r"\S")]
    is_public: bool = False


class PhotoConfirmData(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Confirm an uploaded photo (as POST /photos/{id}/confirm)."""

    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")] | None = None


# -- offline sync -----------------------------------------------------------------------------

ActionId = uuid.UUID


# An action's `data` is the body of its online endpoint. It is decoded per action, so one
# malformed action (a naive timestamp, a note too long) is rejected with the validation
# error while the rest of the batch still applies.
ActionData = dict[str, Any]


class StatusAction(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="status"
):
    """A queued status move; `data` as the body of POST /visits/{id}/status."""

    id: ActionId
    visit_id: uuid.UUID
    data: ActionData


class ChecklistAction(
    msgspec.Struct,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
    tag="checklist_answers",
):
    """Queued checklist answers; `data` as the body of PUT /visits/{id}/checklist/answers."""

    id: ActionId
    visit_id: uuid.UUID
    data: ActionData


class CommentAction(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="comment"
):
    """A queued comment; `data` as the body of POST /visits/{id}/comments."""

    id: ActionId
    visit_id: uuid.UUID
    data: ActionData


class LocationAction(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="location"
):
    """Queued position fixes; `data` as the body of POST /location."""

    id: ActionId
    data: ActionData


class PhotoConfirmAction(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="photo_confirm"
):
    """A queued photo confirmation (the upload itself went straight to storage).

    `data` as the body of POST /photos/{id}/confirm.
    """

    id: ActionId
    photo_id: uuid.UUID
    data: ActionData = msgspec.field(default_factory=dict)


SyncAction = StatusAction | ChecklistAction | CommentAction | LocationAction | PhotoConfirmAction


class SyncRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Actions queued offline, in the order the engineer did them.

    Each action's `id` is its idempotency key (the same one the online call would send).
    """

    actions: Annotated[list[SyncAction], msgspec.Meta(min_length=1, max_length=200)]


Outcome = Literal["applied", "duplicate", "rejected"]


class SyncResult(msgspec.Struct, kw_only=True):
    """What became of one action; `answer` is what the online endpoint answered."""

    id: ActionId
    kind: str
    outcome: Outcome
    status_code: Annotated[int, msgspec.Meta(ge=100, le=599)]
    # Pre-encoded JSON (a `msgspec.Raw`) or null: any JSON value, which is what `Any` says
    # (`Raw | None` read as "any value, or null", two matches for a null).
    answer: Any = None
    error: ErrorDetail | None = None


class SyncRead(msgspec.Struct, kw_only=True):
    """One result per action, in the order sent."""

    results: list[SyncResult]


class ChangesRead(msgspec.Struct, kw_only=True):
    """What changed for the engineer since the cursor, and where to continue."""

    visits: list[EngineerVisit]
    removed_visit_ids: list[uuid.UUID]
    comments: list[CommentRead]
    next_cursor: str
    has_more: bool
    # True when this is the whole current state (first call, or a cursor older than the
    # feed's retention): the app replaces its copy instead of applying changes.
    is_full_state: bool
