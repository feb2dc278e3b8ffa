"""Onboarding by spreadsheet: dry run, all-or-nothing load, idempotent re-import, export."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus
from equipment.equipment.models import Equipment, EquipmentMove
from fsm.clients.models import Client, ClientContact
from fsm.engineers.models import Engineer
from fsm.sites.models import Site
from fsm.users.models import Role
from tests.factories import make_client, make_policy, make_skill
from tests.fsm.helpers import assert_forbidden, error_of, signed_in

IMPORTS = "/api/v1/imports"
EXPORTS = "/api/v1/exports"


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


# One small company's base, in the order the kinds refer to each other.
BASE: dict[str, list[list[str]]] = {
    "clients": [
        ["external_key", "name", "tax_id", "email", "phone", "notes"],
        ["C1", "Acme Lifts GmbH", "DE111", "ops@acme.example", "+49 30 1", "pays late"],
        ["C2", "Borg Facilities", "", "", "", ""],
    ],
    "contacts": [
        ["external_key", "client_key", "name", "position", "phone", "is_primary"],
        ["P1", "C1", "Ann Weber", "facility manager", "+49 30 2", "true"],
    ],
    "sites": [
        [
            "external_key",
            "client_key",
            "name",
            "address",
            "city",
            "country",
            "timezone",
            "lat",
            "lon",
            "opening_hours",
        ],
        [
            "S1",
            "C1",
            "HQ",
            "Unter den Linden 1",
            "Berlin",
            "DE",
            "Europe/Berlin",
            "52.517",
            "13.3889",
            "mon 08:00-17:00; tue 08:00-12:00; tue 13:00-17:00",
        ],
        ["S2", "C1", "Depot", "Hafenstr. 5", "Berlin", "DE", "Europe/Berlin", "", "", ""],
        [
            "S3",
            "C2",
            "Tower",
            "Alexanderplatz 1",
            "Berlin",
            "DE",
            "Europe/Berlin",
            "52.5219",
            "13.4132",
            "",
        ],
    ],
    "equipment_models": [
        [
            "external_key",
            "manufacturer",
            "model",
            "category",
            "maintenance_interval_days",
            "required_skills",
        ],
        ["M1", "Schindler", "3300", "lift", "90", "lift"],
    ],
    "equipment": [
        ["external_key", "site_key", "model_key", "serial_number", "name", "installed_on"],
        ["U1", "S1", "M1", "SN-1", "Lift A", "2020-05-01"],
        ["U2", "S1", "M1", "SN-2", "Lift B", ""],
        ["U3", "S3", "M1", "SN-3", "", ""],
    ],
    "contracts": [
        ["number", "client_key", "valid_from", "valid_to", "status", "hourly_rate_cents"],
        ["K-1", "C1", "2026-01-01", "2026-12-31", "active", "9500"],
    ],
    "coverages": [
        [
            "contract_number",
            "equipment_key",
            "interval_count",
            "interval_unit",
            "preferred_weekdays",
        ],
        ["K-1", "U1", "3", "month", "mon; wed"],
        ["K-1", "U2", "6", "month", ""],
    ],
    "engineers": [
        ["email", "full_name", "timezone", "home_lat", "home_lon", "skills", "shifts"],
        [
            "Eva@Field.example",
            "Eva Klein",
            "Europe/Berlin",
            "52.5",
            "13.4",
            "lift",
            "mon 08:00-16:00; tue 08:00-16:00",
        ],
    ],
}


async def _admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    await make_skill(session, "lift")
    return (await signed_in(client, session, Role.ADMIN))[1]


async def _import(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    kind: str,
    content: bytes,
    *,
    dry_run: bool,
) -> httpx.Response:
    return await client.post(
        f"{IMPORTS}/{kind}",
        params={"dry_run": str(dry_run).lower()},
        content=content,
        headers={**headers, "content-type": "application/octet-stream"},
    )


async def _load(
    client: httpx.AsyncClient, headers: dict[str, str], kind: str, content: bytes
) -> dict[str, Any]:
    response = await _import(client, headers, kind, content, dry_run=False)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _count(session: AsyncSession, model: Any) -> int:
    return (await session.scalar(select(func.count()).select_from(model))) or 0


class TestOnboardingRoundTrip:
    async def test_dry_run_load_reimport_and_export(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        checked = await _import(client, headers, "clients", _csv(BASE["clients"]), dry_run=True)
        assert checked.status_code == 200, checked.text
        assert checked.json()["status"] == "checked"
        assert checked.json()["created_rows"] == 2
        assert await _count(session, Client) == 0  # the dry run wrote nothing

        for kind, rows in BASE.items():
            done = await _load(client, headers, kind, _csv(rows))
            assert done["status"] == "done", (kind, done)
            assert done["created_rows"] == len(rows) - 1, (kind, done)
            run = await client.get(f"{IMPORTS}/runs/{done['id']}", headers=headers)
            assert run.json()["processed_rows"] == len(rows) - 1

        contract = (await session.scalars(select(Contract))).one()
        assert contract.status is ContractStatus.ACTIVE
        assert sorted(c.preferred_weekdays for c in contract.coverages) == [[], [0, 2]]
        engineer = (await session.scalars(select(Engineer))).one()
        assert engineer.user.email == "eva@field.example"
        assert [(s.weekday, s.starts_at.hour) for s in engineer.shifts] == [(0, 8), (1, 8)]

        # The same files again change nothing, and neither does each kind's own export.
        for kind, rows in BASE.items():
            again = await _load(client, headers, kind, _csv(rows))
            assert (again["unchanged_rows"], again["created_rows"], again["updated_rows"]) == (
                len(rows) - 1,
                0,
                0,
            ), (kind, again)
            exported = await client.get(f"{EXPORTS}/{kind}", headers=headers)
            assert exported.status_code == 200
            assert exported.headers["content-type"].startswith("text/csv")
            back = await _load(client, headers, kind, exported.content)
            assert back["unchanged_rows"] == len(rows) - 1, (kind, back, exported.text)
            assert back["created_rows"] == back["updated_rows"] == 0

        sites = list(
            csv.DictReader(
                io.StringIO((await client.get(f"{EXPORTS}/sites", headers=headers)).text)
            )
        )
        hq = next(s for s in sites if s["external_key"] == "S1")
        assert hq["opening_hours"] == "mon 08:00-17:00; tue 08:00-12:00; tue 13:00-17:00"
        assert (hq["lat"], hq["lon"], hq["client_key"]) == ("52.517", "13.3889", "C1")

    async def test_a_contact_looks_after_a_site_of_its_own_client_and_exports_so(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        for kind in ("clients", "sites"):
            assert (await _load(client, headers, kind, _csv(BASE[kind])))["status"] == "done"
        head = ["external_key", "client_key", "name", "site_key"]
        wrong = await _import(
            client,
            headers,
            "contacts",
            # S1 is C1's site: C2's caretaker cannot look after it.
            _csv([head, ["P9", "C2", "Bob Borg", "S1"]]),
            dry_run=False,
        )
        assert wrong.status_code == 422, wrong.text
        assert [
            (p["row"], p["column"], p["message"]) for p in wrong.json()["error"]["details"]
        ] == [(2, "site_key", "the site is another client's")]
        assert await _count(session, ClientContact) == 0
        done = await _load(client, headers, "contacts", _csv([head, ["P2", "C1", "Olga", "S1"]]))
        assert done["status"] == "done", done
        contact = (await session.scalars(select(ClientContact))).one()
        site = (await session.scalars(select(Site).where(Site.external_key == "S1"))).one()
        assert contact.site_id == site.id
        exported = list(
            csv.DictReader(
                io.StringIO((await client.get(f"{EXPORTS}/contacts", headers=headers)).text)
            )
        )
        assert [(row["external_key"], row["site_key"]) for row in exported] == [("P2", "S1")]

    async def test_unlocated_site_is_kept_and_marked(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        await _load(client, headers, "clients", _csv(BASE["clients"]))
        await _load(client, headers, "sites", _csv(BASE["sites"]))
        listed = await client.get("/api/v1/sites", headers=headers)
        by_name = {s["name"]: s for s in listed.json()["items"]}
        assert by_name["Depot"]["location"] is None
        assert by_name["Depot"]["is_located"] is False
        assert by_name["HQ"]["is_located"] is True
        near = await client.get(
            "/api/v1/sites", params={"near": "52.52,13.40", "within_km": 50}, headers=headers
        )
        assert {s["name"] for s in near.json()["items"]} == {"HQ", "Tower"}


class TestDryRunProblems:
    async def test_every_problem_is_named_and_nothing_written(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        await _load(client, headers, "clients", _csv(BASE["clients"]))
        rows = [
            BASE["sites"][0],
            ["S1", "C1", "HQ", "Street 1", "", "DE", "Europe/Berlin", "52.5", "13.4", ""],
            ["S2", "C9", "Depot", "Street 2", "", "DE", "Mars/Olympus", "91", "", ""],
            ["S1", "C1", "Again", "Street 3", "", "de", "Europe/Berlin", "", "", "mon 9-5"],
            ["S4", "C2", "Yard", "Street 4", "", "DE", "Europe/Berlin", "52.5", "", ""],
            ["S5", "C2", "", "Street 5", "", "DE", "Europe/Berlin", "", "", ""],
        ]
        response = await _import(client, headers, "sites", _csv(rows), dry_run=True)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "rejected"
        problems = {(p["row"], p["column"]): p["message"] for p in body["problems"]}
        assert "unknown time zone" in problems[(3, "timezone")]
        assert problems[(3, "lat")] == "must be from -90 to 90"
        assert problems[(4, "country")].startswith("a two-letter country code")
        assert "is not like 'mon 08:00-17:00'" in problems[(4, "opening_hours")]
        assert problems[(4, "external_key")] == "the same key as row 2"
        assert problems[(5, "lon")] == "give both lat and lon, or neither"
        assert problems[(6, "name")] == "required"
        assert len(problems) == 7
        # A reference is only checked on a row whose cells all read.
        fixed = [rows[0], rows[1], ["S2", "C9", "Depot", "Street 2", "", "DE", "UTC", "", "", ""]]
        refused = await _import(client, headers, "sites", _csv(fixed), dry_run=False)
        error = error_of(refused, 422)
        assert error["code"] == "import_rejected"
        assert error["details"] == [
            {"row": 3, "column": "client_key", "message": "no client with key 'C9'"}
        ]
        assert await _count(session, Site) == 0  # all or nothing: row 2 was fine

    async def test_unknown_and_missing_columns(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        response = await _import(
            client, headers, "clients", _csv([["external_key", "nmae"], ["C1", "x"]]), dry_run=True
        )
        assert sorted((p["column"], p["message"]) for p in response.json()["problems"]) == [
            ("name", "required column missing"),
            ("nmae", "unknown column"),
        ]

    async def test_database_rules_are_found_by_the_dry_run(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        for kind in ("clients", "sites", "equipment_models", "equipment"):
            await _load(client, headers, kind, _csv(BASE[kind]))
        clash = [BASE["equipment"][0], ["U9", "S1", "M1", "SN-1", "", ""]]
        body = (await _import(client, headers, "equipment", _csv(clash), dry_run=True)).json()
        assert body["problems"] == [
            {
                "row": 2,
                "column": "serial_number",
                "message": "unit U1 of this model has this serial number",
            }
        ]


class TestChangedRows:
    async def test_changed_rows_update_in_place(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        for kind in ("clients", "sites", "equipment_models", "equipment"):
            await _load(client, headers, kind, _csv(BASE[kind]))
        before = {u.external_key: u.id for u in (await session.scalars(select(Equipment))).all()}
        changed = [
            BASE["equipment"][0],
            ["U1", "S2", "M1", "SN-1", "Lift A (moved)", "2020-05-01"],
            BASE["equipment"][2],
            BASE["equipment"][3],
        ]
        done = await _load(client, headers, "equipment", _csv(changed))
        assert (done["updated_rows"], done["unchanged_rows"], done["created_rows"]) == (1, 2, 0)
        session.expire_all()
        units = {u.external_key: u for u in (await session.scalars(select(Equipment))).all()}
        assert {k: u.id for k, u in units.items()} == before
        depot = (await session.scalars(select(Site).where(Site.external_key == "S2"))).one()
        assert (units["U1"].site_id, units["U1"].name) == (depot.id, "Lift A (moved)")
        move = (await session.scalars(select(EquipmentMove))).one()
        assert move.to_site_id == depot.id

    async def test_rows_made_through_the_api_are_adopted(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        made = await make_client(session, name="Old Co")
        await session.commit()
        exported = await client.get(f"{EXPORTS}/clients", headers=headers)
        assert str(made.id) in exported.text  # no key yet: the id stands in
        back = await _load(client, headers, "clients", exported.content)
        assert back["unchanged_rows"] == 1


class TestXlsx:
    async def test_typed_cells_import_and_export_round_trip(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        await make_policy(session, is_default=False)
        await _load(client, headers, "clients", _csv(BASE["clients"]))
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["number", "client_key", "valid_from", "valid_to", "included_labour_minutes"])
        sheet.append(["K-7", "C1", date(2026, 1, 1), date(2026, 6, 30), 600])
        buffer = io.BytesIO()
        book.save(buffer)
        done = await _load(client, headers, "contracts", buffer.getvalue())
        assert done["file_format"] == "xlsx"
        contract = (await session.scalars(select(Contract))).one()
        assert (contract.valid_to, contract.included_labour_minutes) == (date(2026, 6, 30), 600)
        exported = await client.get(
            f"{EXPORTS}/contracts", params={"format": "xlsx"}, headers=headers
        )
        assert exported.status_code == 200
        rows = list(load_workbook(io.BytesIO(exported.content)).worksheets[0].values)
        assert rows[1][:4] == ("K-7", "C1", "2026-01-01", "2026-06-30")
        back = await _load(client, headers, "contracts", exported.content)
        assert back["unchanged_rows"] == 1

    async def test_templates_carry_the_documented_columns(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _admin(client, session)
        kinds = (await client.get(f"{IMPORTS}/kinds", headers=headers)).json()
        assert [k["name"] for k in kinds] == list(BASE)
        for kind in kinds:
            template = await client.get(
                f"{IMPORTS}/kinds/{kind['name']}/template",
                params={"format": "xlsx"},
                headers=headers,
            )
            header = next(load_workbook(io.BytesIO(template.content)).worksheets[0].values)
            assert list(header) == [c["name"] for c in kind["columns"]]
            assert all(c["doc"] for c in kind["columns"])
        unknown = await client.get(f"{IMPORTS}/kinds/planets/template", headers=headers)
        assert error_of(unknown, 404)["code"] == "unknown_kind"


class TestWhoMayImport:
    async def test_only_admins(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        company = await make_client(session)
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        _, engineer = await signed_in(client, session, Role.ENGINEER)
        _, client_user = await signed_in(client, session, Role.CLIENT, of_client=company)
        for headers in (dispatcher, engineer, client_user):
            assert_forbidden(
                await _import(client, headers, "clients", _csv(BASE["clients"]), dry_run=False)
            )
            assert_forbidden(await client.get(f"{EXPORTS}/clients", headers=headers))
            assert_forbidden(await client.get(f"{IMPORTS}/kinds", headers=headers))
        assert await _count(session, Client) == 1
