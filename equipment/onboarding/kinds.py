"""The kinds of rows a company's base is loaded from, in the order they refer to each other:
clients, contacts, sites, equipment models, equipment, contracts, coverages; engineers stand
alone. Each names its columns (the documentation, the template and the export come from them),
how a row is matched on re-import and how it is written.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

from geoalchemy2 import WKBElement, WKTElement
from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import (
    BillingPeriod,
    Contract,
    ContractStatus,
    Coverage,
    IntervalUnit,
)
from equipment.contracts.schemas import ContractCreate, ContractDatesUpdate, CoverageCreate
from equipment.contracts.service import ContractService
from equipment.equipment.models import (
    Equipment,
    EquipmentModel,
    EquipmentMove,
    EquipmentStatus,
)
from equipment.onboarding import columns as c
from equipment.onboarding.columns import Column
from equipment.onboarding.engine import CHUNK, Kind, Problem, Ref, Row, WriteContext
from equipment.service_periods.service import ServicePeriodService
from fsm.clients.models import Client, ClientContact
from fsm.db import utcnow
from fsm.engineers.models import Engineer, EngineerShift
from fsm.geo import WGS84, from_db_point
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.sla.models import SlaPolicy
from fsm.users.models import Role, User
from fsm.users.service import UserService

__all__ = ["KINDS"]

_KEY = Column(
    "external_key", "your key for this row; re-imports match on it", c.text(100), required=True
)


def _point(lat: float, lon: float) -> WKTElement:
    """A POINT kept as the attribute's value (an SQL expression would have to be reloaded);
    `repr` writes the shortest text that reads back as the same float."""
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=WGS84)


def _lat_lon(value: WKBElement | WKTElement | None) -> tuple[float | None, float | None]:
    if isinstance(value, WKTElement):
        lon, lat = value.data.removeprefix("POINT(").removesuffix(")").split()
        return float(lat), float(lon)
    point = from_db_point(value)
    return (None, None) if point is None else (point.lat, point.lon)


def _maybe(fmt: Any) -> Any:
    return lambda value: "" if value is None else fmt(value)


async def _by_external_key(
    session: AsyncSession, model: Any, keys: Sequence[str]
) -> dict[Hashable, Any]:
    """Stored rows by external key; a key that is the id of an unkeyed row adopts it."""
    found: dict[Hashable, Any] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = list(keys[start : start + CHUNK])
        for obj in (
            await session.scalars(select(model).where(model.external_key.in_(chunk)))
        ).all():
            found[obj.external_key] = obj
        ids = [i for i in (_uuid(k) for k in chunk if k not in found) if i is not None]
        if ids:
            stmt = select(model).where(model.id.in_(ids), model.external_key.is_(None))
            for obj in (await session.scalars(stmt)).all():
                found[str(obj.id)] = obj
    return found


def _keys(rows: Sequence[Row]) -> list[str]:
    return [r.values["external_key"] for r in rows]


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _skills(ctx: WriteContext) -> dict[str, Skill]:
    if "skills" not in ctx.cache:
        ctx.cache["skills"] = {s.code: s for s in (await ctx.session.scalars(select(Skill))).all()}
    skills: dict[str, Skill] = ctx.cache["skills"]
    return skills


async def _skill_list(
    ctx: WriteContext, row: Row, column: str
) -> tuple[list[Skill], list[Problem]]:
    known = await _skills(ctx)
    codes = row.values[column] or ()
    missing = [code for code in codes if code not in known]
    if missing:
        return [], [Problem(row.line, column, f"unknown skill code {', '.join(missing)}")]
    return [known[code] for code in codes], []


class ClientsKind(Kind):
    """Clients: the companies whose equipment is serviced."""

    name = "clients"
    doc = "The companies under contract. Import first: other kinds name a client by its key."
    columns = (
        _KEY,
        Column("name", "company name", c.text(200), required=True),
        Column("tax_id", "VAT or tax number (unique)", c.text(50), _maybe(str)),
        Column("email", "main email", c.text(320), _maybe(str)),
        Column("phone", "main phone", c.text(50), _maybe(str)),
        Column("notes", "internal notes (staff only)", c.text(10_000), _maybe(str)),
        Column("is_active", "true or false (default true)", c.boolean, c.yes_no),
    )
    key_columns = ("external_key",)

    def key(self, row: Row) -> Hashable:
        key: Hashable = row.values["external_key"]
        return key

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        return await _by_external_key(ctx.session, Client, _keys(rows))

    def current(self, obj: Any) -> dict[str, Any]:
        return {
            "external_key": obj.external_key or str(obj.id),
            "name": obj.name,
            "tax_id": obj.tax_id,
            "email": obj.email,
            "phone": obj.phone,
            "notes": obj.notes,
            "is_active": obj.is_active,
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        values["is_active"] = True if values["is_active"] is None else values["is_active"]
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        tax_id = values["tax_id"]
        if tax_id is not None:
            holder = await ctx.session.scalar(select(Client).where(Client.tax_id == tax_id))
            if holder is not None and holder is not obj:
                return [Problem(row.line, "tax_id", "another client has this tax id")]
        if obj is None:
            obj = Client()
            ctx.session.add(obj)
        for name, value in values.items():
            setattr(obj, name, value)
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        return (await session.scalars(select(Client).order_by(Client.name, Client.id))).all()


class ContactsKind(Kind):
    """Client contacts: the people to call at a client."""

    name = "contacts"
    doc = "People to call or write to at a client."
    columns = (
        _KEY,
        Column("client_key", "external_key of the client", c.text(100), required=True),
        Column("name", "full name", c.text(200), required=True),
        Column("position", "role at the client, e.g. facility manager", c.text(200), _maybe(str)),
        Column("email", "email", c.text(320), _maybe(str)),
        Column("phone", "phone", c.text(50), _maybe(str)),
        Column("is_primary", "true for the main contact (default false)", c.boolean, c.yes_no),
        Column(
            "site_key",
            "external_key of the client's site the person looks after (its contact, shown to "
            "engineers on visits there); empty for none",
            c.text(100),
            _maybe(str),
        ),
    )
    refs: ClassVar[dict[str, Ref]] = {
        "client_key": Ref(Client.external_key, "client", by_id=True),
        "site_key": Ref(Site.external_key, "site", by_id=True),
    }
    key_columns = ("external_key",)

    def key(self, row: Row) -> Hashable:
        key: Hashable = row.values["external_key"]
        return key

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        return await _by_external_key(ctx.session, ClientContact, _keys(rows))

    def current(self, obj: Any) -> dict[str, Any]:
        return {
            "external_key": obj.external_key or str(obj.id),
            "client_key": obj.client_id,
            "name": obj.name,
            "position": obj.position,
            "email": obj.email,
            "phone": obj.phone,
            "is_primary": obj.is_primary,
            "site_key": obj.site_id,
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        values["is_primary"] = bool(values["is_primary"])
        values["site_key"] = values.get("site_key")
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        site_id = values.pop("site_key")
        if site_id is not None:
            site_client = await ctx.session.scalar(select(Site.client_id).where(Site.id == site_id))
            if site_client != values["client_key"]:
                return [Problem(row.line, "site_key", "the site is another client's")]
        if obj is None:
            obj = ClientContact()
            ctx.session.add(obj)
        obj.site_id = site_id
        obj.client_id = values.pop("client_key")
        for name, value in values.items():
            setattr(obj, name, value)
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        stmt = select(ClientContact).order_by(ClientContact.client_id, ClientContact.name)
        return (await session.scalars(stmt)).all()


class SitesKind(Kind):
    """Sites: client addresses; without coordinates a site is kept but unlocated."""

    name = "sites"
    doc = (
        "A client's addresses. Without lat and lon the site is kept but unlocated: the "
        "dispatcher cannot plan its visits until its point is set (PATCH the site)."
    )
    columns = (
        _KEY,
        Column("client_key", "external_key of the client", c.text(100), required=True),
        Column("name", "site name", c.text(200), required=True),
        Column("address", "street and number", c.text(500), required=True),
        Column("city", "city", c.text(200), _maybe(str)),
        Column("postal_code", "postal code", c.text(20), _maybe(str)),
        Column("country", "ISO 3166-1 alpha-2 code, e.g. DE", c.country, required=True),
        Column("timezone", "IANA time zone, e.g. Europe/Berlin", c.timezone, required=True),
        Column(
            "lat", "latitude in WGS 84 (with lon, or neither)", c.latitude, _maybe(c.coordinate)
        ),
        Column("lon", "longitude in WGS 84", c.longitude, _maybe(c.coordinate)),
        Column("access_notes", "how engineers get in", c.text(10_000), _maybe(str)),
        Column(
            "opening_hours",
            "site local time, e.g. 'mon 08:00-17:00; sat 09:00-12:00'",
            c.hours,
            c.hours_text,
        ),
    )
    refs: ClassVar[dict[str, Ref]] = {"client_key": Ref(Client.external_key, "client", by_id=True)}
    key_columns = ("external_key",)

    def check(self, row: Row) -> list[Problem]:
        if (row.values["lat"] is None) != (row.values["lon"] is None):
            missing = "lon" if row.values["lon"] is None else "lat"
            return [Problem(row.line, missing, "give both lat and lon, or neither")]
        return []

    def key(self, row: Row) -> Hashable:
        key: Hashable = row.values["external_key"]
        return key

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        return await _by_external_key(ctx.session, Site, _keys(rows))

    def current(self, obj: Any) -> dict[str, Any]:
        lat, lon = _lat_lon(obj.location)
        return {
            "external_key": obj.external_key or str(obj.id),
            "client_key": obj.client_id,
            "name": obj.name,
            "address": obj.address,
            "city": obj.city,
            "postal_code": obj.postal_code,
            "country": obj.country,
            "timezone": obj.timezone,
            "lat": lat,
            "lon": lon,
            "access_notes": obj.access_notes,
            "opening_hours": tuple(
                (h["weekday"], c.clock(h["opens"]), c.clock(h["closes"])) for h in obj.opening_hours
            ),
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        values["opening_hours"] = values["opening_hours"] or ()
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        if obj is None:
            obj = Site()
            ctx.session.add(obj)
        elif obj.client_id != values["client_key"]:
            return [Problem(row.line, "client_key", "a site cannot move to another client")]
        obj.client_id = values.pop("client_key")
        lat, lon = values.pop("lat"), values.pop("lon")
        obj.location = None if lat is None else _point(lat, lon)
        obj.opening_hours = [
            {"weekday": d, "opens": c.hhmm(s), "closes": c.hhmm(e)}
            for d, s, e in values.pop("opening_hours")
        ]
        for name, value in values.items():
            setattr(obj, name, value)
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        stmt = select(Site).order_by(Site.client_id, Site.name, Site.id)
        return (await session.scalars(stmt)).all()


class EquipmentModelsKind(Kind):
    """The catalogue of makes and models."""

    name = "equipment_models"
    doc = "Makes and models. A model already recorded without a key is matched by make and model."
    columns = (
        _KEY,
        Column("manufacturer", "make", c.text(200), required=True),
        Column("model", "model name", c.text(200), required=True),
        Column("category", "e.g. lift, hvac", c.text(100), required=True),
        Column(
            "maintenance_interval_days", "days between services", c.integer(1, 3650), _maybe(str)
        ),
        Column("required_skills", "skill codes, e.g. 'lift; electrical'", c.skill_codes, c.joined),
        Column("instructions", "what the engineer should know", c.text(20_000), str),
    )
    key_columns = ("external_key",)

    def key(self, row: Row) -> Hashable:
        key: Hashable = row.values["external_key"]
        return key

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        found = await _by_external_key(ctx.session, EquipmentModel, _keys(rows))
        unmatched = [r for r in rows if r.values["external_key"] not in found]
        if unmatched:
            pairs = [(r.values["manufacturer"], r.values["model"]) for r in unmatched]
            stmt = select(EquipmentModel).where(
                tuple_(EquipmentModel.manufacturer, EquipmentModel.model).in_(pairs),
                EquipmentModel.external_key.is_(None),
            )
            by_pair = {(m.manufacturer, m.model): m for m in (await ctx.session.scalars(stmt))}
            for r in unmatched:
                match = by_pair.get((r.values["manufacturer"], r.values["model"]))
                if match is not None:
                    found[r.values["external_key"]] = match
        return found

    def current(self, obj: Any) -> dict[str, Any]:
        return {
            "external_key": obj.external_key or str(obj.id),
            "manufacturer": obj.manufacturer,
            "model": obj.model,
            "category": obj.category,
            "maintenance_interval_days": obj.maintenance_interval_days,
            "required_skills": tuple(s.code for s in obj.required_skills),
            "instructions": obj.instructions,
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        values["required_skills"] = values["required_skills"] or ()
        values["instructions"] = values["instructions"] or ""
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        skills, problems = await _skill_list(ctx, row, "required_skills")
        if problems:
            return problems
        holder = await ctx.session.scalar(
            select(EquipmentModel).where(
                EquipmentModel.manufacturer == values["manufacturer"],
                EquipmentModel.model == values["model"],
            )
        )
        if holder is not None and holder is not obj:
            return [Problem(row.line, "model", "this make and model has another key")]
        if obj is None:
            obj = EquipmentModel(required_skills=skills)
            ctx.session.add(obj)
        else:
            obj.required_skills = skills
        values.pop("required_skills")
        for name, value in values.items():
            setattr(obj, name, value)
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        stmt = select(EquipmentModel).order_by(EquipmentModel.manufacturer, EquipmentModel.model)
        return (await session.scalars(stmt)).all()


class EquipmentKind(Kind):
    """Installed units; the client is the site's."""

    name = "equipment"
    doc = (
        "Installed units; the client is the site's. A unit already recorded without a key "
        "is matched by model and serial number. A changed site_key moves the unit (history kept)."
    )
    columns = (
        _KEY,
        Column("site_key", "external_key of the site", c.text(100), required=True),
        Column("model_key", "external_key of the equipment model", c.text(100), required=True),
        Column("serial_number", "unique per model", c.text(100), required=True),
        Column("name", "a name people use, e.g. 'Lift A'", c.text(200), _maybe(str)),
        Column("installed_on", "YYYY-MM-DD", c.day, _maybe(lambda d: d.isoformat())),
        Column("warranty_ends_on", "YYYY-MM-DD", c.day, _maybe(lambda d: d.isoformat())),
        Column(
            "status",
            "active (default), out_of_service or decommissioned",
            c.choice([s.value for s in EquipmentStatus]),
        ),
    )
    refs: ClassVar[dict[str, Ref]] = {
        "site_key": Ref(Site.external_key, "site", by_id=True),
        "model_key": Ref(EquipmentModel.external_key, "equipment model", by_id=True),
    }
    key_columns = ("external_key",)

    def key(self, row: Row) -> Hashable:
        key: Hashable = row.values["external_key"]
        return key

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        found = await _by_external_key(ctx.session, Equipment, _keys(rows))
        pairs = [(r.refs["model_key"], r.values["serial_number"]) for r in rows]
        # Who holds each model and serial number now: a key-less unit is adopted, a unit
        # under another key is a clash the row is told about.
        holders: dict[tuple[uuid.UUID, str], Any] = {}
        for start in range(0, len(pairs), CHUNK):
            stmt = select(Equipment).where(
                tuple_(Equipment.model_id, Equipment.serial_number).in_(
                    pairs[start : start + CHUNK]
                )
            )
            for unit in (await ctx.session.scalars(stmt)).all():
                holders[(unit.model_id, unit.serial_number)] = unit
        for r in rows:
            if r.values["external_key"] in found:
                continue
            holder = holders.get((r.refs["model_key"], r.values["serial_number"]))
            if holder is not None and holder.external_key is None:
                found[r.values["external_key"]] = holder
        ctx.cache["serial_holders"] = holders
        site_ids = {r.refs["site_key"] for r in rows}
        ctx.cache["site_clients"] = dict(
            (
                await ctx.session.execute(
                    select(Site.id, Site.client_id).where(Site.id.in_(site_ids))
                )
            ).all()
        )
        return found

    def current(self, obj: Any) -> dict[str, Any]:
        return {
            "external_key": obj.external_key or str(obj.id),
            "site_key": obj.site_id,
            "model_key": obj.model_id,
            "serial_number": obj.serial_number,
            "name": obj.name,
            "installed_on": obj.installed_on,
            "warranty_ends_on": obj.warranty_ends_on,
            "status": obj.status.value,
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        values["status"] = values["status"] or EquipmentStatus.ACTIVE.value
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        holder = ctx.cache["serial_holders"].get((values["model_key"], values["serial_number"]))
        if holder is not None and holder is not obj:
            return [
                Problem(
                    row.line,
                    "serial_number",
                    f"unit {holder.external_key or holder.id} of this model has this serial number",
                )
            ]
        client_id = ctx.cache["site_clients"][values["site_key"]]
        if obj is None:
            obj = Equipment(client_id=client_id, site_id=values["site_key"])
            ctx.session.add(obj)
        elif obj.site_id != values["site_key"]:
            if obj.client_id != client_id:
                return [Problem(row.line, "site_key", "the site belongs to another client")]
            ctx.session.add(
                EquipmentMove(
                    equipment_id=obj.id,
                    from_site_id=obj.site_id,
                    to_site_id=values["site_key"],
                    moved_at=utcnow(),
                    actor_id=ctx.actor.user_id,
                )
            )
            obj.site_id = values["site_key"]
        obj.model_id = values["model_key"]
        obj.status = EquipmentStatus(values["status"])
        for name in ("external_key", "serial_number", "name", "installed_on", "warranty_ends_on"):
            setattr(obj, name, values[name])
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        stmt = select(Equipment).order_by(Equipment.site_id, Equipment.serial_number)
        return (await session.scalars(stmt)).all()


class ContractsKind(Kind):
    """Contract terms; the units they cover come in the coverages file."""

    name = "contracts"
    doc = (
        "Service contracts, matched by number. A new contract is draft or active; the status "
        "of an existing one changes through activate, suspend and expire, not by import."
    )
    columns = (
        Column("number", "contract number (unique; the key)", c.text(50), required=True),
        Column("client_key", "external_key of the client", c.text(100), required=True),
        Column("valid_from", "YYYY-MM-DD", c.day, lambda d: d.isoformat(), required=True),
        Column("valid_to", "YYYY-MM-DD (inclusive)", c.day, lambda d: d.isoformat(), required=True),
        Column(
            "status",
            "draft (default), active, suspended or expired",
            c.choice([s.value for s in ContractStatus]),
        ),
        Column(
            "sla_policy",
            "name of the SLA policy (none: the default policy)",
            c.text(200),
            _maybe(str),
        ),
        Column(
            "billing_period",
            "month (default), quarter or year",
            c.choice([b.value for b in BillingPeriod]),
        ),
        Column("included_labour_minutes", "per billing period", c.integer(0, 10_000_000), str),
        Column("hourly_rate_cents", "work outside the contract", c.integer(0, 100_000_000), str),
        Column(
            "callout_fee_cents", "per call-out outside the contract", c.integer(0, 100_000_000), str
        ),
        Column("currency", "ISO 4217 code, default EUR", c.currency, str),
    )
    refs: ClassVar[dict[str, Ref]] = {
        "client_key": Ref(Client.external_key, "client", by_id=True),
        "sla_policy": Ref(SlaPolicy.name, "SLA policy"),
    }
    key_columns = ("number",)

    def check(self, row: Row) -> list[Problem]:
        if row.values["valid_from"] > row.values["valid_to"]:
            return [Problem(row.line, "valid_to", "must not be before valid_from")]
        return []

    def key(self, row: Row) -> Hashable:
        key: Hashable = row.values["number"]
        return key

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        numbers = [r.values["number"] for r in rows]
        stmt = select(Contract).where(Contract.number.in_(numbers))
        return {k.number: k for k in (await ctx.session.scalars(stmt)).all()}

    def current(self, obj: Any) -> dict[str, Any]:
        return {
            "number": obj.number,
            "client_key": obj.client_id,
            "valid_from": obj.valid_from,
            "valid_to": obj.valid_to,
            "status": obj.status.value,
            "sla_policy": obj.sla_policy_id,
            "billing_period": obj.billing_period.value,
            "included_labour_minutes": obj.included_labour_minutes,
            "hourly_rate_cents": obj.hourly_rate_cents,
            "callout_fee_cents": obj.callout_fee_cents,
            "currency": obj.currency,
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        defaults = {
            "status": "draft",
            "billing_period": "month",
            "included_labour_minutes": 0,
            "hourly_rate_cents": 0,
            "callout_fee_cents": 0,
            "currency": "EUR",
        }
        for name, default in defaults.items():
            if values[name] is None:
                values[name] = default
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        contracts = ContractService(ctx.session)
        status = ContractStatus(values["status"])
        if obj is None:
            if status not in {ContractStatus.DRAFT, ContractStatus.ACTIVE}:
                return [Problem(row.line, "status", "a new contract is draft or active")]
            obj = await contracts.create(
                ContractCreate(
                    client_id=values["client_key"],
                    number=values["number"],
                    valid_from=values["valid_from"],
                    valid_to=values["valid_to"],
                    sla_policy_id=values["sla_policy"],
                    billing_period=BillingPeriod(values["billing_period"]),
                    included_labour_minutes=values["included_labour_minutes"],
                    hourly_rate_cents=values["hourly_rate_cents"],
                    callout_fee_cents=values["callout_fee_cents"],
                    currency=values["currency"],
                )
            )
            if status is ContractStatus.ACTIVE:
                await contracts.activate(obj.id, viewer=ctx.actor)
            return []
        if obj.client_id != values["client_key"]:
            return [Problem(row.line, "client_key", "a contract cannot move to another client")]
        if obj.status is not status:
            return [
                Problem(
                    row.line,
                    "status",
                    f"the contract is {obj.status.value}; change it with activate, suspend "
                    "or expire",
                )
            ]
        if (obj.valid_from, obj.valid_to) != (values["valid_from"], values["valid_to"]):
            await contracts.change_dates(
                obj.id,
                ContractDatesUpdate(valid_from=values["valid_from"], valid_to=values["valid_to"]),
                viewer=ctx.actor,
            )
        obj.sla_policy_id = values["sla_policy"]
        obj.billing_period = BillingPeriod(values["billing_period"])
        for name in (
            "included_labour_minutes",
            "hourly_rate_cents",
            "callout_fee_cents",
            "currency",
        ):
            setattr(obj, name, values[name])
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        return (await session.scalars(select(Contract).order_by(Contract.number))).all()


class CoveragesKind(Kind):
    """Units under a contract, each with its maintenance plan."""

    name = "coverages"
    doc = (
        "Which units each contract covers and how often they are serviced. Import after contracts."
    )
    columns = (
        Column("contract_number", "number of the contract", c.text(50), required=True),
        Column("equipment_key", "external_key of the unit", c.text(100), required=True),
        Column("interval_count", "service every N ...", c.integer(1, 1000), str, required=True),
        Column(
            "interval_unit", "day, week or month", c.choice(["day", "week", "month"]), required=True
        ),
        Column(
            "visit_minutes", "length of a maintenance visit (default 60)", c.integer(1, 1440), str
        ),
        Column("skills", "skill codes needed beyond the model's", c.skill_codes, c.joined),
        Column("preferred_weekdays", "e.g. 'mon; wed'", c.weekdays, c.weekday_names),
        Column("preferred_start", "HH:MM", c.clock, _maybe(c.hhmm)),
        Column("preferred_end", "HH:MM", c.clock, _maybe(c.hhmm)),
    )
    refs: ClassVar[dict[str, Ref]] = {
        "contract_number": Ref(Contract.number, "contract"),
        "equipment_key": Ref(Equipment.external_key, "unit", by_id=True),
    }
    key_columns = ("contract_number", "equipment_key")

    def key(self, row: Row) -> Hashable:
        return (row.refs["contract_number"], row.refs["equipment_key"])

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        pairs = [self.key(r) for r in rows]
        found: dict[Hashable, Any] = {}
        for start in range(0, len(pairs), CHUNK):
            stmt = select(Coverage).where(
                tuple_(Coverage.contract_id, Coverage.equipment_id).in_(
                    pairs[start : start + CHUNK]
                )
            )
            for coverage in (await ctx.session.scalars(stmt)).all():
                found[(coverage.contract_id, coverage.equipment_id)] = coverage
        return found

    def current(self, obj: Any) -> dict[str, Any]:
        return {
            "contract_number": obj.contract_id,
            "equipment_key": obj.equipment_id,
            "interval_count": obj.interval_count,
            "interval_unit": obj.interval_unit.value,
            "visit_minutes": obj.visit_minutes,
            "skills": tuple(sorted(obj.skills)),
            "preferred_weekdays": tuple(obj.preferred_weekdays),
            "preferred_start": obj.preferred_start,
            "preferred_end": obj.preferred_end,
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        values["visit_minutes"] = values["visit_minutes"] or 60
        values["skills"] = values["skills"] or ()
        values["preferred_weekdays"] = values["preferred_weekdays"] or ()
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        _, problems = await _skill_list(ctx, row, "skills")
        if problems:
            return problems
        start, end = values["preferred_start"], values["preferred_end"]
        if start is not None and end is not None and start >= end:
            return [Problem(row.line, "preferred_end", "must be after preferred_start")]
        if obj is None:
            await ContractService(ctx.session).add_coverage(
                values["contract_number"],
                CoverageCreate(
                    equipment_id=values["equipment_key"],
                    interval_count=values["interval_count"],
                    interval_unit=IntervalUnit(values["interval_unit"]),
                    visit_minutes=values["visit_minutes"],
                    skills=list(values["skills"]),
                    preferred_weekdays=list(values["preferred_weekdays"]),
                    preferred_start=start,
                    preferred_end=end,
                ),
                viewer=ctx.actor,
            )
            return []
        obj.interval_count = values["interval_count"]
        obj.interval_unit = IntervalUnit(values["interval_unit"])
        obj.visit_minutes = values["visit_minutes"]
        obj.skills = list(values["skills"])
        obj.preferred_weekdays = list(values["preferred_weekdays"])
        obj.preferred_start, obj.preferred_end = start, end
        await ctx.session.flush()
        # The plan changed: planned periods are cut again (the rule's owner does it).
        await ServicePeriodService(ctx.session).regenerate(obj)
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        stmt = (
            select(Coverage)
            .join(Contract, Contract.id == Coverage.contract_id)
            .order_by(Contract.number, Coverage.equipment_id)
        )
        return (await session.scalars(stmt)).all()


class EngineersKind(Kind):
    """Engineers with their skills and weekly shift; new ones get no usable password."""

    name = "engineers"
    doc = (
        "Field engineers, matched by email. A new engineer's user has no usable password "
        "until one is set (an admin, or the invitation and reset flows)."
    )
    columns = (
        Column("email", "sign-in email (the key)", c.text(320), required=True),
        Column("full_name", "full name", c.text(200), required=True),
        Column("phone", "phone", c.text(50), _maybe(str)),
        Column("timezone", "IANA time zone of the shift", c.timezone, required=True),
        Column("home_lat", "home base latitude", c.latitude, c.coordinate, required=True),
        Column("home_lon", "home base longitude", c.longitude, c.coordinate, required=True),
        Column("max_visits_per_day", "1 to 50 (default 8)", c.integer(1, 50), str),
        Column("skills", "skill codes, e.g. 'lift; hvac'", c.skill_codes, c.joined),
        Column(
            "shifts", "local time, e.g. 'mon 08:00-16:00; tue 08:00-16:00'", c.hours, c.hours_text
        ),
    )
    key_columns = ("email",)

    def check(self, row: Row) -> list[Problem]:
        if "@" not in row.values["email"]:
            return [Problem(row.line, "email", "not an email address")]
        row.values["email"] = row.values["email"].lower()
        return []

    def key(self, row: Row) -> Hashable:
        key: Hashable = row.values["email"]
        return key

    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        emails = [r.values["email"] for r in rows]
        stmt = (
            select(Engineer)
            .join(User, User.id == Engineer.user_id)
            .where(func.lower(User.email).in_(emails))
        )
        return {e.user.email.lower(): e for e in (await ctx.session.scalars(stmt)).all()}

    def current(self, obj: Any) -> dict[str, Any]:
        lat, lon = _lat_lon(obj.home_base)
        return {
            "email": obj.user.email.lower(),
            "full_name": obj.user.full_name,
            "phone": obj.phone,
            "timezone": obj.timezone,
            "home_lat": lat,
            "home_lon": lon,
            "max_visits_per_day": obj.max_visits_per_day,
            "skills": tuple(s.code for s in obj.skills),
            "shifts": tuple((s.weekday, s.starts_at, s.ends_at) for s in obj.shifts),
        }

    def comparable(self, row: Row) -> dict[str, Any]:
        values = super().comparable(row)
        values["max_visits_per_day"] = values["max_visits_per_day"] or 8
        values["skills"] = values["skills"] or ()
        values["shifts"] = values["shifts"] or ()
        return values

    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        values = self.comparable(row)
        skills, problems = await _skill_list(ctx, row, "skills")
        if problems:
            return problems
        shifts = [EngineerShift(weekday=d, starts_at=s, ends_at=e) for d, s, e in values["shifts"]]
        home = _point(values["home_lat"], values["home_lon"])
        if obj is None:
            # Nobody knows this password: the engineer gets one set for them.
            user = await UserService(ctx.session).create(
                email=values["email"],
                full_name=values["full_name"],
                password=secrets.token_urlsafe(32),
                role=Role.ENGINEER,
            )
            ctx.session.add(
                Engineer(
                    user=user,
                    phone=values["phone"],
                    timezone=values["timezone"],
                    home_base=home,
                    max_visits_per_day=values["max_visits_per_day"],
                    skills=skills,
                    shifts=shifts,
                )
            )
            return []
        obj.user.full_name = values["full_name"]
        obj.phone = values["phone"]
        obj.timezone = values["timezone"]
        obj.home_base = home
        obj.max_visits_per_day = values["max_visits_per_day"]
        obj.skills = skills
        if self.current(obj)["shifts"] != values["shifts"]:
            obj.shifts.clear()
            await ctx.session.flush()
            obj.shifts.extend(shifts)
        return []

    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        stmt = select(Engineer).join(User, User.id == Engineer.user_id).order_by(User.email)
        return (await session.scalars(stmt)).all()


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        ClientsKind(),
        ContactsKind(),
        SitesKind(),
        EquipmentModelsKind(),
        EquipmentKind(),
        ContractsKind(),
        CoveragesKind(),
        EngineersKind(),
    )
}
