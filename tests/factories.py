"""Small async builders of test data, with keyword overrides."""

from __future__ import annotations

import itertools
import uuid
from datetime import time
from functools import lru_cache

from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.engineers.models import Engineer, EngineerShift
from fsm.geo import GeoPoint, to_db_point
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.sla.models import SlaCalendar, SlaPolicy
from fsm.users.models import Role, User

PASSWORD = "correct horse battery"
_seq = itertools.count(1)
BERLIN_CENTRE = GeoPoint(lat=52.52, lon=13.405)
BERLIN_HOME = GeoPoint(lat=52.5, lon=13.4)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    """The shared test password as an argon2id hash with the lightest cost argon2 allows.

    A hash carries its own cost, so signing in as a factory user runs the product's own
    verification in a millisecond where the product's cost takes 120 ms on a 2-core CI box:
    a thousand sign-ins in the suite were two minutes of waiting. Passwords set through the
    API (resets, invites, imports) are still hashed at the product's cost.
    """
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


async def make_client(session: AsyncSession, **overrides: object) -> Client:
    n = next(_seq)
    client = Client(
        **{"name": f"Client {n}", "tax_id": f"TAX-{n}-{uuid.uuid4().hex[:6]}", **overrides}
    )
    session.add(client)
    await session.flush()
    return client


async def make_user(
    session: AsyncSession,
    *,
    role: Role = Role.DISPATCHER,
    client: Client | None = None,
    **overrides: object,
) -> User:
    n = next(_seq)
    if role is Role.CLIENT and client is None:
        client = await make_client(session)
    user = User(
        **{
            "email": f"user{n}-{uuid.uuid4().hex[:6]}@example.com",
            "full_name": f"User {n}",
            "password_hash": _password_hash(),
            "role": role,
            "client_id": client.id if client is not None else None,
            **overrides,
        }
    )
    session.add(user)
    await session.flush()
    return user


async def make_site(
    session: AsyncSession,
    *,
    client: Client | None = None,
    at: GeoPoint = BERLIN_CENTRE,
    **overrides: object,
) -> Site:
    n = next(_seq)
    if client is None:
        client = await make_client(session)
    site = Site(
        **{
            "client_id": client.id,
            "name": f"Site {n}",
            "address": f"{n} Main Street",
            "country": "DE",
            "timezone": "Europe/Berlin",
            "location": to_db_point(at),
            **overrides,
        }
    )
    session.add(site)
    await session.flush()
    await session.refresh(site)
    return site


async def make_skill(session: AsyncSession, code: str | None = None) -> Skill:
    n = next(_seq)
    skill = Skill(code=code or f"skill-{n}", name=f"Skill {n}")
    session.add(skill)
    await session.flush()
    return skill


async def make_engineer(
    session: AsyncSession,
    *,
    skills: list[Skill] | None = None,
    home: GeoPoint = BERLIN_HOME,
    user: User | None = None,
    **overrides: object,
) -> Engineer:
    if user is None:
        user = await make_user(session, role=Role.ENGINEER)
    engineer = Engineer(
        **{
            "user": user,
            "timezone": "Europe/Berlin",
            "home_base": to_db_point(home),
            "skills": skills or [],
            "shifts": [
                EngineerShift(weekday=d, starts_at=time(8), ends_at=time(17)) for d in range(5)
            ],
            **overrides,
        }
    )
    session.add(engineer)
    await session.flush()
    await session.refresh(engineer)
    return engineer


async def make_policy(
    session: AsyncSession,
    *,
    reaction_minutes: int = 60,
    resolution_minutes: int = 480,
    is_default: bool = True,
    calendar: SlaCalendar | None = None,
) -> SlaPolicy:
    """An SLA policy with the same targets for every priority unless overridden later."""
    n = next(_seq)
    target = {"reaction_minutes": reaction_minutes, "resolution_minutes": resolution_minutes}
    policy = SlaPolicy(
        name=f"Policy {n}",
        calendar_id=calendar.id if calendar else None,
        targets={p: dict(target) for p in ("low", "normal", "high", "critical")},
        pause_statuses=["on_hold"],
        reaction_statuses=["scheduled", "in_progress", "resolved", "closed"],
        is_default=is_default,
    )
    session.add(policy)
    await session.flush()
    return policy
