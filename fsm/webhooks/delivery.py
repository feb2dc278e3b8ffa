"""Webhook delivery: outbox events into deliveries, deliveries onto the wire, signed.

Two steps, each safe to run in any number of workers at once and to retry:
1. `fan_out` consumes the outbox as consumer "webhooks": for each event, one delivery per
   active endpoint subscribed to its type, its body fixed then. The deliveries commit with
   the consumer's new position, so an event makes its deliveries exactly once.
2. `send_due` sends due deliveries. A short transaction claims them (`SKIP LOCKED`) and
   counts the attempt, pushing the next one back by the backoff (which is also the claim's
   lease: a worker killed mid-send leaves the delivery to be sent again when it is due);
   the POST runs outside any transaction; a second short transaction records the attempt.
   A delivery is at least once: the `webhook-id` stays the same on every retry and replay,
   so receivers drop repeats by it, as the Standard Webhooks specification asks.

Each attempt is signed by `standardwebhooks` (`webhook-id`, `webhook-timestamp`,
`webhook-signature`: HMAC-SHA256 of "id.timestamp.body"). A 2xx answer is a success; any
other answer, a timeout or a refused target is a failure, retried after
`first_retry_s` x 2^(n-1) (capped at six hours) until `max_attempts`. An endpoint whose
attempts have all failed for `disable_after_days` is disabled; a success clears the count.
Bodies carry only the client-safe payload unless the endpoint asked for internal facts.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from fsm.db import session_scope, utcnow
from fsm.outbox import OutboxEvent, consume
from fsm.settings import WebhookSettings
from fsm.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from fsm.webhooks.targets import TargetRefused, check_target

log = logging.getLogger("fsm.webhooks")

CONSUMER = "webhooks"
RETRY_CAP = timedelta(hours=6)
ERROR_CHARS = 500


def retry_delay(settings: WebhookSettings, attempt: int) -> timedelta:
    """The wait after attempt number `attempt` (1 for the first) before the next."""
    seconds = settings.first_retry_s * 2 ** max(attempt - 1, 0)
    return min(timedelta(seconds=seconds), RETRY_CAP)


def webhook_body(event: OutboxEvent, *, include_internal: bool) -> dict[str, Any]:
    """The JSON an endpoint receives for an event (Standard Webhooks: type, timestamp, data)."""
    data: dict[str, Any] = {
        "event_id": event.id,
        "client_id": _text(event.client_id),
        "work_order_id": _text(event.work_order_id),
        "visit_id": _text(event.visit_id),
        "engineer_id": _text(event.engineer_id),
        **event.payload,
    }
    if include_internal:
        data["internal"] = dict(event.staff)
    return {"type": event.kind, "timestamp": event.occurred_at.isoformat(), "data": data}


def webhook_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` of a delivery, the same on every attempt."""
    return f"msg_{delivery_id.hex}"


async def fan_out(session: AsyncSession, *, limit: int = 500) -> int | None:
    """Turn the next outbox events into deliveries; None when another worker is at it."""
    events = await consume(session, CONSUMER, limit=limit)
    if events is None:
        return None
    if not events:
        return 0
    endpoints = (
        await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.is_active.is_(True)))
    ).all()
    now = utcnow()
    made = 0
    for event in events:
        for endpoint in endpoints:
            if event.kind not in endpoint.event_types:
                continue
            session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=event.id,
                    event_type=event.kind,
                    payload=webhook_body(event, include_internal=endpoint.include_internal),
                    state=DeliveryState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            made += 1
    await session.flush()
    return made


@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_id: uuid.UUID
    attempt: int
    url: str
    secret: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Result:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def send_due(
    factory: async_sessionmaker[AsyncSession],
    settings: WebhookSettings,
    http: httpx.AsyncClient,
    *,
    now: datetime | None = None,
    limit: int = 20,
) -> int:
    """Send up to `limit` due deliveries; the number attempted."""
    now = now or utcnow()
    claims = await _claim(factory, settings, now, limit)
    for claim in claims:
        result = await _post(claim, settings, http)
        await _record(factory, settings, claim, result, now)
    return len(claims)


async def _claim(
    factory: async_sessionmaker[AsyncSession],
    settings: WebhookSettings,
    now: datetime,
    limit: int,
) -> list[_Claim]:
    async with session_scope(factory) as session:
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.state == DeliveryState.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookEndpoint.is_active.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
        ).all()
        claims = []
        for delivery, endpoint in rows:
            delivery.attempts += 1
            delivery.next_attempt_at = now + retry_delay(settings, delivery.attempts)
            claims.append(
                _Claim(
                    delivery.id, delivery.attempts, endpoint.url, endpoint.secret, delivery.payload
                )
            )
        return claims


async def _post(claim: _Claim, settings: WebhookSettings, http: httpx.AsyncClient) -> _Result:
    started = time.monotonic()
    body = json.dumps(claim.payload, ensure_ascii=False, separators=(",", ":"))
    msg_id = webhook_id(claim.delivery_id)
    sent_at = utcnow()
    headers = {
        "content-type": "application/json",
        "user-agent": "fieldline-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(claim.secret).sign(msg_id, sent_at, body),
    }
    try:
        await check_target(claim.url, allow_private=settings.allow_private_targets)
        response = await http.post(
            claim.url,
            content=body.encode(),
            headers=headers,
            timeout=settings.timeout_s,
            follow_redirects=False,
        )
    except TargetRefused as exc:
        return _Result(None, f"target refused: {exc}", _since(started))
    except httpx.HTTPError as exc:
        return _Result(None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], _since(started))
    error = None if 200 <= response.status_code < 300 else response.text[:ERROR_CHARS]
    return _Result(response.status_code, error, _since(started))


async def _record(
    factory: async_sessionmaker[AsyncSession],
    settings: WebhookSettings,
    claim: _Claim,
    result: _Result,
    now: datetime,
) -> None:
    async with session_scope(factory) as session:
        session.add(
            WebhookAttempt(
                delivery_id=claim.delivery_id,
                attempted_at=now,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
        delivery = await session.get(WebhookDelivery, claim.delivery_id, with_for_update=True)
        if delivery is None:  # the endpoint was deleted meanwhile
            return
        endpoint = await session.get_one(
            WebhookEndpoint, delivery.endpoint_id, with_for_update=True
        )
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if result.is_success:
            endpoint.failing_since = None
        else:
            endpoint.failing_since = endpoint.failing_since or now
            if endpoint.is_active and now - endpoint.failing_since >= timedelta(
                days=settings.disable_after_days
            ):
                endpoint.is_active = False
                endpoint.disabled_at = now
                log.warning("webhook endpoint %s disabled after days of failures", endpoint.id)
        # A replay or a later claim has taken the delivery over: it decides its state.
        if delivery.attempts != claim.attempt or delivery.state is not DeliveryState.PENDING:
            return
        if result.is_success:
            delivery.state = DeliveryState.SUCCEEDED
            delivery.delivered_at = now
        elif delivery.attempts >= settings.max_attempts:
            delivery.state = DeliveryState.FAILED


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


async def run_webhooks(
    factory: async_sessionmaker[AsyncSession], settings: WebhookSettings, *, rounds: int = 10
) -> tuple[int, int]:
    """One delivery run: new events into deliveries, then what is due sent; (made, sent)."""
    async with session_scope(factory) as session:
        made = await fan_out(session) or 0
    sent = 0
    async with httpx.AsyncClient() as http:
        for _ in range(rounds):
            count = await send_due(factory, settings, http)
            sent += count
            if count == 0:
                break
    return made, sent
