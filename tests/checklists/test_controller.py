"""Checklist endpoints: who may write templates, answer runs, see findings and history."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from checklists.service import AnswerInput
from equipment.equipment.models import Equipment
from fsm.engineers.models import Engineer
from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.auth_helpers import login
from tests.checklists.helpers import (
    INSPECTION,
    add_evidence_photo,
    checklists,
    make_template,
    order_on,
    planned_visit,
)
from tests.equipment.helpers import make_equipment
from tests.equipment.test_equipment_card import counting_queries
from tests.factories import make_engineer, make_user
from tests.fsm.helpers import assert_forbidden, assert_not_found, error_of, signed_in
from tests.fsm.wo_helpers import principal_of, visits

TEMPLATES = "/api/v1/checklist-templates"

MIXED = {
    "sections": [
        {
            "title": "Checks",
            "items": [
                {
                    "key": "door_ok",
                    "label": "Door closes",
                    "kind": "yes_no",
                    "is_client_visible": True,
                },
                {
                    "key": "motor_temp",
                    "label": "Motor temperature",
                    "kind": "number",
                    "max": 80,
                    "visible_if": {"item": "door_ok", "any_of": [True]},
                },
            ],
        }
    ]
}


def _checklist_of(visit: Visit) -> str:
    return f"/api/v1/visits/{visit.id}/checklist"


class TestTemplates:
    async def test_an_admin_creates_publishes_and_versions_a_template(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        created = await client.post(
            TEMPLATES,
            json={"name": "Lift yearly", "definition": INSPECTION, "categories": ["lift"]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        template = created.json()
        assert (template["draft_version"], template["published_version"]) == (1, None)
        url = f"{TEMPLATES}/{template['id']}"
        published = await client.post(f"{url}/publish", headers=admin)
        assert published.json()["is_published"] is True

        changed = {
            "sections": [{"title": "New", "items": [{"key": "a", "label": "A", "kind": "yes_no"}]}]
        }
        edited = await client.patch(url, json={"definition": changed}, headers=admin)

        assert (edited.json()["draft_version"], edited.json()["published_version"]) == (2, 1)
        old = await client.get(f"{url}/versions/1", headers=admin)
        assert old.json()["definition"]["sections"][0]["title"] == "Safety"
        versions = await client.get(f"{url}/versions", headers=admin)
        assert [v["is_published"] for v in versions.json()] == [True, False]

    async def test_publishing_without_a_draft_is_a_conflict(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        template = await make_template(session)
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await client.post(f"{TEMPLATES}/{template.id}/publish", headers=admin)

        assert error_of(response, 409)["code"] == "nothing_to_publish"

    async def test_a_definition_that_cannot_be_answered_is_refused_naming_the_item(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        broken = {
            "sections": [{"title": "S", "items": [{"key": "p", "label": "P", "kind": "photo"}]}]
        }

        response = await client.post(
            TEMPLATES, json={"name": "Broken", "definition": broken}, headers=admin
        )

        error = error_of(response, 422)
        assert error["details"][0]["field"] == "definition.sections[0].items[0].photo_count"

    async def test_an_unknown_equipment_model_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            TEMPLATES,
            json={
                "name": "X",
                "definition": INSPECTION,
                "equipment_model_ids": [str(uuid.uuid4())],
            },
            headers=admin,
        )

        assert error_of(response, 409)["details"][0]["field"] == "equipment_model_ids"

    async def test_only_admins_write_and_only_staff_read(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        template = await make_template(session)
        await session.commit()
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        _, engineer = await signed_in(client, session, Role.ENGINEER)
        _, customer = await signed_in(client, session, Role.CLIENT)
        body = {"name": "X", "definition": INSPECTION}

        assert (await client.get(TEMPLATES, headers=dispatcher)).status_code == 200
        assert_forbidden(await client.post(TEMPLATES, json=body, headers=dispatcher))
        assert_forbidden(
            await client.patch(f"{TEMPLATES}/{template.id}", json={"name": "Y"}, headers=dispatcher)
        )
        assert_forbidden(
            await client.post(f"{TEMPLATES}/{template.id}/publish", headers=dispatcher)
        )
        for headers in (engineer, customer):
            assert_forbidden(await client.get(TEMPLATES, headers=headers))
            assert_forbidden(
                await client.get(f"{TEMPLATES}/{template.id}/versions/1", headers=headers)
            )


async def _assigned(session: AsyncSession) -> tuple[Visit, Engineer, Equipment]:
    unit = await make_equipment(session)
    await make_template(session, model_ids=[unit.model_id])
    engineer = await make_engineer(session)
    visit = await planned_visit(session, await order_on(session, unit), engineer=engineer)
    await session.commit()
    return visit, engineer, unit


class TestVisitChecklist:
    async def test_the_engineer_reads_and_answers_their_visits_checklist(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        visit, engineer, _ = await _assigned(session)
        headers = await login(client, engineer.user)

        read = await client.get(_checklist_of(visit), headers=headers)
        saved = await client.put(
            f"{_checklist_of(visit)}/answers",
            json={"answers": [{"item_key": "brakes_ok", "value": True}]},
            headers=headers,
        )

        assert read.status_code == 200, read.text
        assert [s["title"] for s in read.json()["sections"]] == ["Safety", "Evidence"]
        body = saved.json()
        assert (body["status"], body["required_answered"], body["required_total"]) == (
            "in_progress",
            1,
            3,
        )
        assert [m["item_key"] for m in body["missing"]] == ["pressure", "cabin"]

    async def test_a_wrong_type_is_a_422_naming_the_item_and_saves_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        visit, engineer, _ = await _assigned(session)
        headers = await login(client, engineer.user)

        response = await client.put(
            f"{_checklist_of(visit)}/answers",
            json={
                "answers": [
                    {"item_key": "brakes_ok", "value": True},
                    {"item_key": "pressure", "value": "two"},
                ]
            },
            headers=headers,
        )

        error = error_of(response, 422)
        assert error["details"][0]["item_key"] == "pressure"
        read = await client.get(_checklist_of(visit), headers=headers)
        assert read.json()["required_answered"] == 0

    async def test_another_engineer_gets_a_404_and_a_client_a_403(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        visit, _, unit = await _assigned(session)
        other = await make_engineer(session)
        customer = await make_user(session, role=Role.CLIENT)
        customer.client_id = unit.client_id  # even the visit's own client
        await session.commit()
        other_headers = await login(client, other.user)
        client_headers = await login(client, customer)
        answers = {"answers": [{"item_key": "brakes_ok", "value": True}]}

        assert_not_found(await client.get(_checklist_of(visit), headers=other_headers))
        assert_not_found(
            await client.put(f"{_checklist_of(visit)}/answers", json=answers, headers=other_headers)
        )
        assert_forbidden(await client.get(_checklist_of(visit), headers=client_headers))
        assert_forbidden(
            await client.put(
                f"{_checklist_of(visit)}/answers", json=answers, headers=client_headers
            )
        )

    async def test_a_visit_without_a_checklist_is_a_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        visit = await planned_visit(session, await order_on(session, await make_equipment(session)))
        await session.commit()
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        assert_not_found(await client.get(_checklist_of(visit), headers=staff))

    async def test_completing_the_visit_lists_what_the_checklist_lacks(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        visit, engineer, _ = await _assigned(session)
        headers = await login(client, engineer.user)
        for status in ("en_route", "on_site"):
            moved = await client.post(
                f"/api/v1/visits/{visit.id}/status", json={"status": status}, headers=headers
            )
            assert moved.status_code == 200, moved.text

        response = await client.post(
            f"/api/v1/visits/{visit.id}/status",
            json={"status": "completed", "labour_minutes": 45},
            headers=headers,
        )

        error = error_of(response, 409)
        assert error["code"] == "visit_incomplete"
        assert [m["item_key"] for m in error["details"]["missing"]] == [
            "brakes_ok",
            "pressure",
            "cabin",
        ]


async def _finished_with_findings(session: AsyncSession) -> tuple[Visit, Equipment]:
    visit, engineer, unit = await _assigned(session)
    actor = principal_of(engineer.user)
    await checklists(session).save_answers(
        visit.id,
        [
            AnswerInput("brakes_ok", False),
            AnswerInput("pressure", 3.0),
            AnswerInput("notes", "internal: client staff propped the door open"),
        ],
        actor=actor,
    )
    staff = principal_of(await make_user(session, role=Role.DISPATCHER))
    await visits(session).report_status(
        visit.id, StatusReport(status=VisitStatus.CANCELLED, note="stopped"), actor=staff
    )
    await session.commit()
    return visit, unit


class TestFindingsQueue:
    async def test_the_dispatcher_sees_findings_without_opening_checklists(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        visit, _ = await _finished_with_findings(session)
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        response = await client.get(
            "/api/v1/checklist-findings",
            params={"work_order_id": str(visit.work_order_id)},
            headers=staff,
        )

        items = response.json()["items"]
        assert sorted(i["finding"]["kind"] for i in items) == ["critical_no", "out_of_range"]
        critical = next(i for i in items if i["finding"]["kind"] == "critical_no")
        assert critical["finding"]["follow_up_work_order_id"] is not None
        assert critical["work_order_number"].startswith("WO-")

    async def test_engineers_and_clients_cannot_read_the_queue(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        for role in (Role.ENGINEER, Role.CLIENT):
            _, headers = await signed_in(client, session, role)
            assert_forbidden(await client.get("/api/v1/checklist-findings", headers=headers))


class TestEquipmentHistory:
    async def _complete(self, session: AsyncSession) -> tuple[Visit, Equipment]:
        visit, engineer, unit = await _assigned(session)
        actor = principal_of(engineer.user)
        await checklists(session).save_answers(
            visit.id,
            [
                AnswerInput("brakes_ok", True),
                AnswerInput("pressure", 3.0),
                AnswerInput("notes", "internal remark about the client"),
            ],
            actor=actor,
        )
        await add_evidence_photo(session, visit, "cabin")
        for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE):
            await visits(session).report_status(visit.id, StatusReport(status=status), actor=actor)
        await visits(session).report_status(
            visit.id, StatusReport(status=VisitStatus.COMPLETED, labour_minutes=50), actor=actor
        )
        await session.commit()
        return visit, unit

    async def test_staff_see_each_runs_outcome_with_everything(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        visit, unit = await self._complete(session)
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        response = await client.get(f"/api/v1/equipment/{unit.id}/checklist-runs", headers=staff)

        (entry,) = response.json()
        assert (entry["visit_id"], entry["outcome"]) == (str(visit.id), "findings")
        keys = [i["key"] for s in entry["run"]["sections"] for i in s["items"]]
        assert keys == ["brakes_ok", "pressure", "notes", "cabin"]
        assert [f["kind"] for f in entry["run"]["findings"]] == ["out_of_range"]

    async def test_reading_many_runs_costs_the_same_queries_as_one(
        self, client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        _, small = await self._complete(session)
        _, large = await self._complete(session)
        for _ in range(3):
            await planned_visit(session, await order_on(session, large))
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        with counting_queries(engine) as for_one:
            await client.get(f"/api/v1/equipment/{small.id}/checklist-runs", headers=staff)
        with counting_queries(engine) as for_four:
            response = await client.get(
                f"/api/v1/equipment/{large.id}/checklist-runs", headers=staff
            )

        assert len(response.json()) == 4
        assert len(for_four) == len(for_one)

    async def test_clients_and_engineers_are_kept_out(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        # The owner reads its checklists in the client app's visit reports.
        _, unit = await self._complete(session)
        owner = await make_user(session, role=Role.CLIENT)
        owner.client_id = unit.client_id
        await session.commit()
        _, stranger = await signed_in(client, session, Role.CLIENT)
        _, engineer = await signed_in(client, session, Role.ENGINEER)
        url = f"/api/v1/equipment/{unit.id}/checklist-runs"

        for headers in (await login(client, owner), stranger, engineer):
            assert_forbidden(await client.get(url, headers=headers))
