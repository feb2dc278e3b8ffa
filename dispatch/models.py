"""Dispatch plans: a solver's proposal for one day, kept until a dispatcher commits it."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, utcnow, value_enum


class DispatchPlanStatus(enum.StrEnum):
    """Where a plan stands: a run is `solving` until it becomes a `draft` or `failed`."""

    SOLVING = "solving"
    DRAFT = "draft"
    COMMITTED = "committed"
    SUPERSEDED = "superseded"
    FAILED = "failed"


class DispatchPlanKind(enum.StrEnum):
    """What a plan was made for."""

    # The open visits of a whole day.
    DAY = "day"
    # Urgent visits inserted into a committed plan's running day.
    INSERT = "insert"


class DispatchPlan(IdMixin, Base):
    """One planning run for a day: inputs it saw, the encoded route plan and its metrics."""

    __tablename__ = "dispatch_plans"
    __table_args__ = (Index("ix_dispatch_plans_day_status", "day", "status"),)

    day: Mapped[date]
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[DispatchPlanStatus] = mapped_column(
        Enum(
            DispatchPlanStatus,
            name="dispatch_plan_status",
            values_callable=lambda e: [m.value for m in e],
        )
    )
    engineer_ids: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    # {visit_id: version} as loaded for the draft; commit refuses if any has moved on.
    visit_versions: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict, server_default="{}")
    # The solver's RoutePlan as msgspec JSON (routes, dropped visits, metrics, solver info).
    plan: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    committed_at: Mapped[datetime | None]
    kind: Mapped[DispatchPlanKind] = mapped_column(
        value_enum(DispatchPlanKind, "dispatch_plan_kind"),
        default=DispatchPlanKind.DAY,
        server_default=DispatchPlanKind.DAY.value,
    )
    # The committed plan an insert re-plans; committing the insert supersedes it.
    base_plan_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dispatch_plans.id", ondelete="SET NULL"), index=True
    )
    # The day as the draft found it, {visit_id: HeldVisit}: what the plan keeps, moves or
    # adds is read against it (dispatch.day).
    day_before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Solutions found, best objective, elapsed seconds against the budget (see dispatch.runs).
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    # When the solver's budget ends; a run still `solving` well after it was interrupted.
    solve_until_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # A background run's solve request (dispatch.runs.SolveRequest as JSON), from the request
    # that stored the plan until a worker stores the result.
    run_request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The queue job solving it: only that job (or its retry) may run it.
    run_job_id: Mapped[int | None] = mapped_column(BigInteger)
