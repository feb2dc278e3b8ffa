"""The SLA statement as files: the staff's and the client's tables for CSV, XLSX and PDF."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from reports.formats import Table, Tables, local_time
from reports.sla import ClientStatement, PauseLine, SlaStatement

__all__ = ["client_tables", "staff_tables"]


def _hours(minutes: int) -> str:
    return f"{minutes / 60:g} h"


def staff_tables(statement: SlaStatement) -> Tables:
    """The staff statement as tables for CSV, XLSX and PDF."""
    zone = ZoneInfo(statement.timezone)
    return Tables(
        title=f"SLA statement {statement.month} - {statement.client_name}",
        notes=[
            f"Times in {statement.timezone}; overruns in business minutes, pauses excluded.",
            f"As of {local_time(statement.as_of, zone)}.",
        ],
        tables=[
            Table(
                name="Targets met",
                header=[
                    "priority",
                    "reaction target (min)",
                    "resolution target (min)",
                    "requests",
                    "reaction measured",
                    "reaction met",
                    "reaction met %",
                    "resolution measured",
                    "resolution met",
                    "resolution met %",
                ],
                rows=[
                    [
                        line.priority.value,
                        line.reaction_minutes,
                        line.resolution_minutes,
                        line.requests,
                        line.reaction_measured,
                        line.reaction_met,
                        line.reaction_met_pct,
                        line.resolution_measured,
                        line.resolution_met,
                        line.resolution_met_pct,
                    ]
                    for line in statement.lines
                ],
            ),
            Table(
                name="Breaches",
                header=[
                    "number",
                    "title",
                    "priority",
                    "target",
                    "due",
                    "done",
                    "overrun (business min)",
                    "pauses",
                ],
                rows=[
                    [
                        b.number,
                        b.title,
                        b.priority.value,
                        b.target,
                        local_time(b.due_at, zone),
                        local_time(b.done_at, zone),
                        b.overrun_business_minutes,
                        _pauses_text(b.pauses, zone, with_reason=True),
                    ]
                    for b in statement.breaches
                ],
            ),
        ],
    )


def client_tables(statement: ClientStatement, client_name: str) -> Tables:
    """The client's statement as tables: service levels, never priorities or reasons."""
    zone = ZoneInfo(statement.timezone)
    return Tables(
        title=f"Service report {statement.month} - {client_name}",
        notes=[
            f"Times in {statement.timezone}; overruns in business minutes, pauses excluded.",
            f"As of {local_time(statement.as_of, zone)}.",
        ],
        tables=[
            Table(
                name="Service levels",
                header=[
                    "reaction within",
                    "resolution within",
                    "requests",
                    "reactions in time",
                    "reactions measured",
                    "reaction %",
                    "resolutions in time",
                    "resolutions measured",
                    "resolution %",
                ],
                rows=[
                    [
                        _hours(level.reaction_minutes),
                        _hours(level.resolution_minutes),
                        level.requests,
                        level.reaction_met,
                        level.reaction_measured,
                        level.reaction_met_pct,
                        level.resolution_met,
                        level.resolution_measured,
                        level.resolution_met_pct,
                    ]
                    for level in statement.service_levels
                ],
            ),
            Table(
                name="Missed targets",
                header=[
                    "number",
                    "title",
                    "target",
                    "due",
                    "done",
                    "overrun (business min)",
                    "pauses",
                ],
                rows=[
                    [
                        b.number,
                        b.title,
                        b.target,
                        local_time(b.due_at, zone),
                        local_time(b.done_at, zone),
                        b.overrun_business_minutes,
                        _pauses_text(b.pauses, zone, with_reason=False),
                    ]
                    for b in statement.breaches
                ],
            ),
        ],
    )


def _pauses_text(pauses: Sequence[PauseLine], zone: ZoneInfo, *, with_reason: bool) -> str:
    return "; ".join(
        f"{local_time(p.paused_at, zone)} - {local_time(p.resumed_at, zone) or 'open'}"
        f" ({p.business_minutes} min)" + (f" {p.reason}" if with_reason and p.reason else "")
        for p in pauses
    )
