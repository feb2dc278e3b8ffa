"""Endpoints to import a company's base from spreadsheets and export it the same way."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.onboarding.kinds import KINDS
from equipment.onboarding.schemas import (
    ImportKindRead,
    ImportRunRead,
    import_kind_read,
    import_run_read,
)
from equipment.onboarding.service import OnboardingService
from equipment.onboarding.sheets import FileFormat
from fsm.auth.guards import requires_admin
from fsm.auth.principal import Principal

Format = Annotated[
    FileFormat,
    QueryParameter(name="format", description="csv (UTF-8, comma-separated) or xlsx"),
]
DryRun = Annotated[
    bool,
    QueryParameter(name="dry_run", description="check every row and write nothing (the default)"),
]


async def provide_onboarding(db_session: NamedDependency[AsyncSession]) -> OnboardingService:
    return OnboardingService(db_session)


def _file(content: bytes, kind: str, file_format: FileFormat, stem: str) -> Response[bytes]:
    return Response(
        content,
        media_type=file_format.media_type,
        headers={"Content-Disposition": f'attachment; filename="{kind}-{stem}.{file_format}"'},
    )


class ImportController(Controller):
    """Imports, templates and exports of clients, sites, units, contracts and engineers."""

    path = "/api/v1"
    tags = ["onboarding"]
    guards = [requires_admin]
    dependencies = {"onboarding": Provide(provide_onboarding)}

    @get("/imports/kinds", operation_id="ListImportKinds")
    async def list_import_kinds(self) -> list[ImportKindRead]:
        """The kinds of file, in the order to import them, with their columns."""
        return [import_kind_read(kind) for kind in KINDS.values()]

    @get(
        "/imports/kinds/{kind:str}/template",
        operation_id="GetImportTemplate",
        media_type="application/octet-stream",
    )
    async def get_import_template(
        self,
        onboarding: NamedDependency[OnboardingService],
        kind: FromPath[str],
        file_format: Format = FileFormat.CSV,
    ) -> Response[bytes]:
        """An empty file with the kind's header row, to fill in."""
        return _file(onboarding.template(kind, file_format), kind, file_format, "template")

    @post("/imports/{kind:str}", operation_id="ImportFile", status_code=200)
    async def import_file(
        self,
        onboarding: NamedDependency[OnboardingService],
        principal: NamedDependency[Principal],
        kind: FromPath[str],
        request: Request[Any, Any, Any],
        dry_run: DryRun = True,
    ) -> ImportRunRead:
        """Check a file (dry run, the default) or load it: all of it or, on any problem, none.

        A dry run answers the run with every problem (row, column, message); a real run
        with problems is 422 `import_rejected` listing them, and writes nothing. The body is
        the file itself: CSV (UTF-8) or XLSX (its first sheet), header row first; bodies
        over the request limit (10 MB) are refused with 413.
        """
        data = await request.body()
        run = await onboarding.import_file(kind, data, actor=principal, dry_run=dry_run)
        return import_run_read(run)

    @get("/imports/runs/{run_id:uuid}", operation_id="GetImportRun")
    async def get_import_run(
        self, onboarding: NamedDependency[OnboardingService], run_id: FromPath[uuid.UUID]
    ) -> ImportRunRead:
        """An import run and its progress."""
        return import_run_read(await onboarding.get_run(run_id))

    @get(
        "/exports/{kind:str}",
        operation_id="ExportKind",
        media_type="application/octet-stream",
    )
    async def export_kind(
        self,
        onboarding: NamedDependency[OnboardingService],
        kind: FromPath[str],
        file_format: Format = FileFormat.CSV,
    ) -> Response[bytes]:
        """Every row of the kind in the import's columns: importing it back changes nothing."""
        content = await onboarding.export(kind, file_format)
        return _file(content, kind, file_format, "export")
