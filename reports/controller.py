"""Reports for the back office: JSON for the API, CSV, XLSX and PDF downloads (staff only)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_admin, requires_staff
from fsm.db import utcnow
from fsm.schemas import ErrorBody
from reports.first_time_fix import (
    FirstTimeFix,
    first_time_fix,
    first_time_fix_tables,
)
from reports.formats import MEDIA_TYPES, ReportFormat, Tables, render
from reports.funnel import Funnel, funnel, funnel_tables
from reports.labour import CostRate, LabourMargin, labour_margin, labour_tables, set_cost_rate
from reports.maintenance import MaintenanceCompliance, compliance_tables, maintenance_compliance
from reports.satisfaction import Satisfaction, satisfaction, satisfaction_tables
from reports.sla import SlaStatement, sla_statement
from reports.sla_files import staff_tables
from reports.utilisation import Utilisation, utilisation, utilisation_tables

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
Month = Annotated[
    str | None,
    QueryParameter(
        min_length=7,
        max_length=7,
        pattern=MONTH_PATTERN,
        description="Calendar month `YYYY-MM` in the client's time zone (default: this month)",
    ),
]
FormatParam = Annotated[
    ReportFormat,
    QueryParameter(description="`json` (default), or a `csv`, `xlsx` or `pdf` download"),
]
FILE_NOTE = "The report as JSON; with `format`, the CSV, XLSX or PDF file of the same figures"


def parse_month(value: str | None) -> date | None:
    """The first day of a `YYYY-MM` month (checked by the parameter's pattern)."""
    if value is None:
        return None
    return date(int(value[:4]), int(value[5:]), 1)


def report_response(
    body: msgspec.Struct, tables: Tables, fmt: ReportFormat, filename: str
) -> Response[bytes]:
    """The JSON answer, or the file download in the asked format."""
    if fmt is ReportFormat.JSON:
        return Response(msgspec.json.encode(body), media_type="application/json")
    return Response(
        render(tables, fmt),
        media_type=MEDIA_TYPES[fmt.value],
        headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt.value}"'},
    )


class ReportController(Controller):
    """Monthly reports per client, for the back office."""

    path = "/api/v1/reports"
    tags = ["reports"]
    guards = [requires_staff]

    @get(
        "/sla-statement",
        operation_id="GetSlaStatement",
        responses={
            200: ResponseSpec(SlaStatement, description=FILE_NOTE),
            404: ResponseSpec(ErrorBody, description="No such client"),
        },
    )
    async def get_sla_statement(
        self,
        db_session: NamedDependency[AsyncSession],
        client_id: Annotated[uuid.UUID, QueryParameter(description="The client")],
        month: Month = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """Requests by priority, targets met, every breach with its overrun and pauses."""
        statement = await sla_statement(db_session, client_id, parse_month(month), as_of=utcnow())
        return report_response(
            statement,
            staff_tables(statement),
            format,
            f"sla-statement-{statement.month}",
        )

    @get(
        "/maintenance-compliance",
        operation_id="GetMaintenanceCompliance",
        responses={200: ResponseSpec(MaintenanceCompliance, description=FILE_NOTE)},
    )
    async def get_maintenance_compliance(
        self,
        db_session: NamedDependency[AsyncSession],
        month: Month = None,
        client_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this client's contracts")
        ] = None,
        contract_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this one")
        ] = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """Service periods ending in the month per contract: on time, late, missed, open."""
        now = utcnow()
        report = await maintenance_compliance(
            db_session,
            parse_month(month) or now.date(),
            now=now,
            client_id=client_id,
            contract_id=contract_id,
        )
        return report_response(
            report, compliance_tables(report), format, f"maintenance-compliance-{report.month}"
        )

    @get(
        "/satisfaction",
        operation_id="GetSatisfaction",
        responses={200: ResponseSpec(Satisfaction, description=FILE_NOTE)},
    )
    async def get_satisfaction(
        self,
        db_session: NamedDependency[AsyncSession],
        month: Month = None,
        client_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this client")
        ] = None,
        engineer_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this engineer's work")
        ] = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """Ratings per client and engineer with the trend, and the low ones with requests."""
        report = await satisfaction(
            db_session,
            parse_month(month) or utcnow().date(),
            client_id=client_id,
            engineer_id=engineer_id,
        )
        return report_response(
            report, satisfaction_tables(report), format, f"satisfaction-{report.month}"
        )

    @get(
        "/labour-margin",
        operation_id="GetLabourMargin",
        responses={200: ResponseSpec(LabourMargin, description=FILE_NOTE)},
    )
    async def get_labour_margin(
        self,
        db_session: NamedDependency[AsyncSession],
        month: Month = None,
        client_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this client's contracts")
        ] = None,
        contract_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this contract")
        ] = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """Labour minutes at each engineer's cost rate against what each contract bills."""
        report = await labour_margin(
            db_session,
            parse_month(month) or utcnow().date(),
            client_id=client_id,
            contract_id=contract_id,
        )
        return report_response(
            report, labour_tables(report), format, f"labour-margin-{report.month}"
        )

    @put(
        "/cost-rates/{engineer_id:uuid}",
        operation_id="SetEngineerCostRate",
        guards=[requires_admin],
        responses={404: ResponseSpec(ErrorBody, description="No such engineer")},
    )
    async def set_engineer_cost_rate(
        self,
        db_session: NamedDependency[AsyncSession],
        engineer_id: FromPath[uuid.UUID],
        data: JSONBody[CostRate],
    ) -> CostRate:
        """An engineer's labour cost per hour, in cents (admin; read by the margin report)."""
        return await set_cost_rate(db_session, engineer_id, data.cost_rate_cents)

    @get(
        "/first-time-fix",
        operation_id="GetFirstTimeFix",
        responses={200: ResponseSpec(FirstTimeFix, description=FILE_NOTE)},
    )
    async def get_first_time_fix(
        self,
        db_session: NamedDependency[AsyncSession],
        month: Month = None,
        follow_up_days: Annotated[
            int, QueryParameter(ge=1, le=365, description="No follow-up within this many days")
        ] = 30,
        client_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this client")
        ] = None,
        engineer_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this engineer's work")
        ] = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """Requests resolved at the first visit, per engineer, equipment model, work type."""
        report = await first_time_fix(
            db_session,
            parse_month(month) or utcnow().date(),
            follow_up_days=follow_up_days,
            client_id=client_id,
            engineer_id=engineer_id,
        )
        return report_response(
            report, first_time_fix_tables(report), format, f"first-time-fix-{report.month}"
        )

    @get(
        "/support-funnel",
        operation_id="GetSupportFunnel",
        responses={200: ResponseSpec(Funnel, description=FILE_NOTE)},
    )
    async def get_support_funnel(
        self,
        db_session: NamedDependency[AsyncSession],
        month: Month = None,
        client_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this client (days in its zone)")
        ] = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """Requests by channel and stage, reaction times, backlog by age and by day."""
        now = utcnow()
        report = await funnel(
            db_session, parse_month(month) or now.date(), now=now, client_id=client_id
        )
        return report_response(report, funnel_tables(report), format, f"funnel-{report.month}")

    @get(
        "/utilisation",
        operation_id="GetUtilisation",
        responses={200: ResponseSpec(Utilisation, description=FILE_NOTE)},
    )
    async def get_utilisation(
        self,
        db_session: NamedDependency[AsyncSession],
        from_: Annotated[date, QueryParameter(name="from", description="First day")],
        to: Annotated[date, QueryParameter(description="Last day (inclusive), 62 days at most")],
        engineer_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Only this engineer")
        ] = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """Shift minutes split into travel, on site and idle, per engineer, day and week."""
        report = await utilisation(db_session, from_, to, engineer_id=engineer_id)
        return report_response(
            report, utilisation_tables(report), format, f"utilisation-{from_}-{to}"
        )
