"""Demo work on top of the demo city: equipment, contracts, checklists and today's jobs.

Wiring like `fsm/main/app.py`: it drives the equipment, checklist and work-order services, so
the demo holds exactly what real use would leave behind (numbers, SLA clocks, service
periods, checklist runs), and every engineer has a route for the next working day.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.definition import Definition
from checklists.templates import TemplateInput, TemplateService
from equipment.contracts.models import IntervalUnit
from equipment.contracts.schemas import ContractCreate, CoverageCreate
from equipment.contracts.service import ContractService
from equipment.equipment.models import Equipment, EquipmentModel
from equipment.equipment.schemas import EquipmentCreate, EquipmentModelCreate
from equipment.equipment.service import EquipmentModelService, EquipmentService
from fsm.auth.principal import Principal
from fsm.clients.models import Client
from fsm.engineers.models import Engineer
from fsm.main.demo import DEMO_DOMAIN
from fsm.main.services import Services
from fsm.settings import Settings
from fsm.sites.models import Site
from fsm.users.models import User
from fsm.visits.service import VisitDraft
from fsm.workorders.models import Priority, WorkOrderType
from fsm.workorders.service import WorkOrderDraft

# (manufacturer, model, category, skill, maintenance interval in months)
MODELS = (
    ("Schindler", "3300", "lift", "lift", 3),
    ("KONE", "MonoSpace 500", "lift", "lift", 3),
    ("Viessmann", "Vitocrossal 300", "boiler", "hvac", 6),
    ("Daikin", "VRV 5", "hvac", "hvac", 6),
    ("Carrier", "Optima 60", "refrigeration", "refrigeration", 4),
    ("Siemens Healthineers", "Magnetom Altea", "medical-imaging", "medical-imaging", 6),
    ("Dell", "PowerEdge R760", "server", "it-hardware", 12),
    ("Otis", "Escalator 506 NCE", "escalator", "escalator", 3),
    ("ABB", "MNS Switchgear", "switchgear", "electrical", 12),
    ("Minimax", "FMZ 5000", "sprinkler", "fire-safety", 6),
)

LIFT_INSPECTION = {
    "sections": [
        {
            "title": "Safety",
            "items": [
                {
                    "key": "brakes_hold",
                    "label": "Brakes hold the loaded car",
                    "kind": "yes_no",
                    "is_critical": True,
                    "opens_follow_up": True,
                    "is_client_visible": True,
                },
                {
                    "key": "door_force",
                    "label": "Door closing force",
                    "kind": "number",
                    "unit": "N",
                    "min": 0,
                    "max": 150,
                    "is_client_visible": True,
                },
                {
                    "key": "emergency_call",
                    "label": "Emergency call reaches the service centre",
                    "kind": "yes_no",
                    "is_critical": True,
                    "is_client_visible": True,
                },
            ],
        },
        {
            "title": "Condition",
            "items": [
                {
                    "key": "rope_wear",
                    "label": "Rope wear",
                    "kind": "single_choice",
                    "choices": [
                        {"value": "none", "label": "None"},
                        {"value": "light", "label": "Light"},
                        {"value": "replace", "label": "Replace soon"},
                    ],
                    "is_client_visible": True,
                },
                {
                    "key": "rope_notes",
                    "label": "Where is the wear?",
                    "kind": "text",
                    "visible_if": {"item": "rope_wear", "any_of": ["light", "replace"]},
                },
                {
                    "key": "machine_room",
                    "label": "Machine room photo",
                    "kind": "photo",
                    "photo_count": 1,
                },
            ],
        },
        {
            "title": "Sign-off",
            "items": [
                {
                    "key": "client_signature",
                    "label": "Client's signature",
                    "kind": "signature",
                    "is_required": False,
                    "is_client_visible": True,
                }
            ],
        },
    ]
}

GENERAL_SERVICE = {
    "sections": [
        {
            "title": "Service",
            "items": [
                {
                    "key": "works_after",
                    "label": "Unit works after the service",
                    "kind": "yes_no",
                    "is_critical": True,
                    "is_client_visible": True,
                },
                {
                    "key": "work_done",
                    "label": "Work done",
                    "kind": "multiple_choice",
                    "choices": [
                        {"value": "inspected", "label": "Inspected"},
                        {"value": "cleaned", "label": "Cleaned"},
                        {"value": "filters", "label": "Filters changed"},
                        {"value": "parts", "label": "Parts replaced"},
                    ],
                    "is_client_visible": True,
                },
                {
                    "key": "temperature",
                    "label": "Supply temperature",
                    "kind": "number",
                    "unit": "°C",
                    "min": 5,
                    "max": 80,
                    "is_required": False,
                },
                {
                    "key": "notes",
                    "label": "Notes for the office",
                    "kind": "text",
                    "is_required": False,
                },
            ],
        }
    ]
}

REQUESTS = (
    ("Lift stuck between floors", Priority.CRITICAL),
    ("Strange noise from the unit", Priority.NORMAL),
    ("No heating on the third floor", Priority.HIGH),
    ("Error code on the display", Priority.NORMAL),
    ("Cold room too warm", Priority.HIGH),
    ("Door does not close properly", Priority.NORMAL),
)


@dataclass(frozen=True)
class DemoWork:
    """What the demo work loader created."""

    equipment: int
    contracts: int
    work_orders: int
    visits: int
    route_day: date


def _principal(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        session_id=uuid.uuid4(),
        role=user.role,
        client_id=user.client_id,
        email=user.email,
        full_name=user.full_name,
    )


def next_working_day(today: date) -> date:
    """Today on a weekday, else the coming Monday (the demo engineers work Monday to Friday)."""
    while today.weekday() >= 5:
        today += timedelta(days=1)
    return today


async def load_demo_work(
    session: AsyncSession,
    *,
    admin: User,
    dispatcher: User,
    today: date,
    seed: int = 11,
    settings: Settings,
) -> DemoWork:
    """Equipment at every demo site, a contract per client, checklists, and a day of jobs."""
    rng = random.Random(seed)  # noqa: S311 - repeatable demo data, not secrets
    admin_p, staff = _principal(admin), _principal(dispatcher)
    day = next_working_day(today)

    models: list[EquipmentModel] = []
    catalogue = EquipmentModelService(session)
    for manufacturer, name, category, skill, _ in MODELS:
        models.append(
            await catalogue.create(
                EquipmentModelCreate(
                    manufacturer=manufacturer,
                    model=name,
                    category=category,
                    required_skills=[skill],
                    instructions=f"Follow the {manufacturer} service manual; isolate power first.",
                )
            )
        )
    templates = TemplateService(session)
    for name, raw, categories in (
        ("Lift safety inspection", LIFT_INSPECTION, ["lift"]),
        ("General service report", GENERAL_SERVICE, []),
    ):
        template = await templates.create(
            TemplateInput(
                name=name,
                definition=msgspec.convert(raw, Definition),
                categories=categories,
            ),
            actor=admin_p,
        )
        await templates.publish(template.id)

    clients = (
        await session.scalars(
            select(Client).where(Client.email.like(f"%.{DEMO_DOMAIN}")).order_by(Client.tax_id)
        )
    ).all()
    units: list[Equipment] = []
    contracts = ContractService(session)
    inventory = EquipmentService(session)
    for n, client in enumerate(clients):
        sites = (
            await session.scalars(
                select(Site).where(Site.client_id == client.id).order_by(Site.name)
            )
        ).all()
        own: list[Equipment] = []
        for site in sites:
            for _ in range(2):
                model = rng.choice(models)
                serial = f"{model.manufacturer[:3].upper()}-{rng.randint(10**6, 10**7 - 1)}"
                own.append(
                    await inventory.create(
                        EquipmentCreate(
                            client_id=client.id,
                            site_id=site.id,
                            model_id=model.id,
                            serial_number=serial,
                            installed_on=date(rng.randint(2012, 2024), rng.randint(1, 12), 1),
                        )
                    )
                )
        contract = await contracts.create(
            ContractCreate(
                client_id=client.id,
                number=f"SC-{day.year}-{n + 1:03d}",
                valid_from=date(day.year, 1, 1),
                valid_to=date(day.year + 1, 12, 31),
                included_labour_minutes=600,
                hourly_rate_cents=9500,
                callout_fee_cents=4900,
            )
        )
        # Most units are covered; a few are not, so out-of-contract work shows up too.
        for unit in own[:-1] if n % 4 == 3 else own:
            months = next(m for (_, name, _, _, m) in MODELS if name == unit.model.model)
            await contracts.add_coverage(
                contract.id,
                CoverageCreate(
                    equipment_id=unit.id,
                    interval_count=months,
                    interval_unit=IntervalUnit.MONTH,
                    visit_minutes=90,
                ),
                viewer=admin_p,
            )
        await contracts.activate(contract.id, viewer=admin_p)
        units.extend(own)

    services = Services(session, settings)
    visits = services.visits
    engineers = (
        await session.scalars(
            select(Engineer)
            .join(User)
            .where(User.email.like(f"%@{DEMO_DOMAIN}"))
            .order_by(User.email)
        )
    ).all()
    zone = ZoneInfo("Europe/Berlin")
    orders = visit_count = 0
    taken: set[uuid.UUID] = set()

    async def plan(unit: Equipment, slot: int, engineer: Engineer | None) -> None:
        nonlocal orders, visit_count
        title, priority = rng.choice(REQUESTS)
        kind = WorkOrderType.REPAIR if slot % 2 == 0 else WorkOrderType.MAINTENANCE
        order = await services.work_orders.create(
            WorkOrderDraft(
                site_id=unit.site_id,
                equipment_id=unit.id,
                type=kind,
                title=title if kind is WorkOrderType.REPAIR else "Scheduled service",
                description="Reported by the facility manager by phone.",
                priority=priority if kind is WorkOrderType.REPAIR else Priority.NORMAL,
                required_skills=[s.code for s in unit.model.required_skills],
            ),
            actor=staff,
        )
        # Windows at 08:00, 10:15 and 12:30, held from half an hour in: the three 90-minute
        # jobs end by 14:30, inside both demo shifts (06:00-15:00 and 08:00-17:00).
        starts = datetime.combine(day, time(8), zone) + timedelta(minutes=135 * slot)
        visit = await visits.create(
            VisitDraft(
                work_order_id=order.id,
                window_starts_at=starts,
                window_ends_at=starts + timedelta(hours=3),
                estimated_minutes=90,
            ),
            actor=staff,
        )
        if engineer is not None:
            await visits.assign(
                visit.id,
                engineer.id,
                actor=staff,
                planned_start_at=starts + timedelta(minutes=30),
                route_position=slot + 1,
            )
        orders += 1
        visit_count += 1
        taken.add(unit.id)

    # Three jobs per engineer on units they are qualified for, in route order.
    for engineer in engineers:
        held = {s.code for s in engineer.skills}
        fitting = [
            u
            for u in units
            if u.id not in taken and {s.code for s in u.model.required_skills} <= held
        ]
        for slot, unit in enumerate(rng.sample(fitting, k=min(3, len(fitting)))):
            await plan(unit, slot, engineer)
    # And a few jobs nobody has yet, for the dispatcher to plan.
    for slot, unit in enumerate(rng.sample([u for u in units if u.id not in taken], k=10)):
        await plan(unit, slot % 3, None)
    await session.flush()
    return DemoWork(
        equipment=len(units),
        contracts=len(clients),
        work_orders=orders,
        visits=visit_count,
        route_day=day,
    )
