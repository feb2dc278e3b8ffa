"""The mails we write: a subject, plain text and HTML per event kind, in English and Russian.

Each template reads the event's client-safe `payload`; templates for the office and the
engineer may also read `staff`. A client's mail is rendered from the payload alone, so
nothing internal can reach it whatever a template says. Values are escaped for HTML; times
are shown on the wall clock of the site (`payload["timezone"]`).
"""

# ruff: noqa: RUF001 - the Russian templates are Cyrillic, and the times use en dashes

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from fsm.outbox import Audience, EventKind

__all__ = ["LANGUAGES", "MAIL_KINDS", "Mail", "compose", "render"]

LANGUAGES = ("en", "ru")


@dataclass(frozen=True, slots=True)
class Mail:
    """A rendered mail, before addressing."""

    subject: str
    text: str
    html: str


# (subject, body lines); $names are filled from the event (see `_values`).
_TEMPLATES: dict[str, dict[EventKind, tuple[str, tuple[str, ...]]]] = {
    "en": {
        EventKind.REQUEST_RECEIVED: (
            "We received your request $number",
            (
                "Thank you: your request $number “$title” is registered.",
                "We will let you know when a visit is scheduled.",
            ),
        ),
        EventKind.VISIT_SCHEDULED: (
            "Visit scheduled for $number on $date",
            (
                "A visit for your request $number “$title” is scheduled on $date, $window.",
                "Engineer: $engineer.",
            ),
        ),
        EventKind.ENGINEER_EN_ROUTE: (
            "$engineer is on the way ($number)",
            ("$engineer is on the way to you for request $number.", "Expected arrival: $eta."),
        ),
        EventKind.VISIT_COMPLETED: (
            "Visit completed for $number",
            (
                "The visit for your request $number “$title” is completed.",
                "Summary: $summary",
                "The visit report: $report_url",
            ),
        ),
        EventKind.REQUEST_RESOLVED: (
            "Your request $number is resolved",
            (
                "Your request $number “$title” is resolved.",
                "How did we do? Rate the work: $rating_url",
            ),
        ),
        EventKind.SLA_AT_RISK: (
            "SLA at risk: $number",
            ("Work order $number “$title” ($priority) is due at $due_at.",),
        ),
        EventKind.SLA_BREACHED: (
            "SLA breached: $number",
            ("Work order $number “$title” ($priority) missed its $target target ($due_at).",),
        ),
        EventKind.CRITICAL_REQUEST: (
            "Critical request: $number",
            ("A critical work order was opened: $number “$title”.",),
        ),
        EventKind.LOW_RATING: (
            "Low rating ($score/5) for $number",
            ("The client rated work order $number “$title” $score/5.", "Comment: $comment"),
        ),
        EventKind.CANNOT_COMPLETE: (
            "Visit not completed: $number",
            (
                "$engineer could not complete the visit for $number “$title”.",
                "Reason: $reason. Note: $note",
            ),
        ),
        EventKind.JOB_ADDED: (
            "New job on $date: $number",
            ("A job was added to your day: $number “$title”, $date, $window.",),
        ),
        EventKind.JOB_REMOVED: (
            "Job taken off your day: $number",
            ("The job $number “$title” on $date is no longer yours.",),
        ),
        EventKind.JOB_TIME_CHANGED: (
            "New time for $number",
            ("The job $number “$title” now starts at $start ($date).",),
        ),
    },
    "ru": {
        EventKind.REQUEST_RECEIVED: (
            "Мы получили вашу заявку $number",
            (
                "Спасибо: ваша заявка $number «$title» зарегистрирована.",
                "Мы сообщим, когда будет назначен визит.",
            ),
        ),
        EventKind.VISIT_SCHEDULED: (
            "Визит по заявке $number назначен на $date",
            (
                "Визит по вашей заявке $number «$title» назначен на $date, в интервале $window.",
                "Инженер: $engineer.",
            ),
        ),
        EventKind.ENGINEER_EN_ROUTE: (
            "$engineer уже в пути ($number)",
            ("$engineer едет к вам по заявке $number.", "Ожидаемое время прибытия: $eta."),
        ),
        EventKind.VISIT_COMPLETED: (
            "Визит по заявке $number завершён",
            (
                "Визит по вашей заявке $number «$title» завершён.",
                "Итог: $summary",
                "Отчёт о визите: $report_url",
            ),
        ),
        EventKind.REQUEST_RESOLVED: (
            "Ваша заявка $number выполнена",
            (
                "Ваша заявка $number «$title» выполнена.",
                "Оцените, пожалуйста, нашу работу: $rating_url",
            ),
        ),
        EventKind.SLA_AT_RISK: (
            "Срок SLA под угрозой: $number",
            ("Заявка $number «$title» ($priority) должна быть обработана до $due_at.",),
        ),
        EventKind.SLA_BREACHED: (
            "Срок SLA нарушен: $number",
            ("Заявка $number «$title» ($priority) нарушила срок ($target, $due_at).",),
        ),
        EventKind.CRITICAL_REQUEST: (
            "Критическая заявка: $number",
            ("Открыта критическая заявка: $number «$title».",),
        ),
        EventKind.LOW_RATING: (
            "Низкая оценка ($score/5) по заявке $number",
            ("Клиент оценил заявку $number «$title» на $score/5.", "Комментарий: $comment"),
        ),
        EventKind.CANNOT_COMPLETE: (
            "Визит не завершён: $number",
            (
                "$engineer не смог завершить визит по заявке $number «$title».",
                "Причина: $reason. Примечание: $note",
            ),
        ),
        EventKind.JOB_ADDED: (
            "Новая работа на $date: $number",
            ("В ваш день добавлена работа: $number «$title», $date, $window.",),
        ),
        EventKind.JOB_REMOVED: (
            "Работа снята с вашего дня: $number",
            ("Работа $number «$title» на $date больше не ваша.",),
        ),
        EventKind.JOB_TIME_CHANGED: (
            "Новое время для $number",
            ("Работа $number «$title» теперь начинается в $start ($date).",),
        ),
    },
}

# The kinds told by mail: those with a template in every language (an outbox kind added
# for streams or webhooks only is not mailed until it has one).
MAIL_KINDS = frozenset(_TEMPLATES["en"]) & frozenset(_TEMPLATES["ru"])

_UNKNOWN = {"en": "not known yet", "ru": "пока неизвестно"}
_SIGNATURE = {"en": "— fieldline", "ru": "— fieldline"}


def render(
    kind: EventKind,
    audience: Audience,
    language: str,
    payload: Mapping[str, Any],
    staff: Mapping[str, Any],
    *,
    links: Mapping[str, str],
    names: Mapping[str, str],
) -> Mail:
    """The mail telling of one event, in `language` (English when we do not write it).

    `staff` is read only for staff and engineer audiences; `links` and `names` are what the
    mailer worked out (report and rating links, the engineer's first name for the office).
    """
    language = language if language in LANGUAGES else "en"
    subject, lines = _TEMPLATES[language][kind]
    internal = staff if audience is not Audience.CLIENT else {}
    values = _values(language, payload, internal, links, names)
    return compose(language, subject, (*lines, _SIGNATURE[language]), values)


def compose(
    language: str,
    subject: str,
    lines: Sequence[str],
    values: Mapping[str, str],
    *,
    html_values: Mapping[str, str] | None = None,
) -> Mail:
    """A mail from its `$name` lines: plain text, and HTML with every value escaped.

    `html_values` are put in the HTML as they are (markup we wrote, such as a link).
    """
    text_lines = [Template(line).safe_substitute(values) for line in lines]
    escaped = {k: html.escape(v) for k, v in values.items()} | dict(html_values or {})
    html_lines = [
        Template(html.escape(line, quote=False)).safe_substitute(escaped) for line in lines
    ]
    body_html = "".join(f"<p>{line}</p>" for line in html_lines)
    return Mail(
        subject=Template(subject).safe_substitute(values),
        text="\n\n".join(text_lines) + "\n",
        html=f'<!doctype html><html lang="{language}"><body>{body_html}</body></html>',
    )


def _values(
    language: str,
    payload: Mapping[str, Any],
    staff: Mapping[str, Any],
    links: Mapping[str, str],
    names: Mapping[str, str],
) -> dict[str, str]:
    unknown = _UNKNOWN[language]
    zone = ZoneInfo(str(payload.get("timezone") or "UTC"))

    def at(key: str, source: Mapping[str, Any] = payload, pattern: str = "%H:%M") -> str:
        raw = source.get(key)
        if not raw:
            return unknown
        return datetime.fromisoformat(str(raw)).astimezone(zone).strftime(pattern)

    date_pattern = "%d.%m.%Y" if language == "ru" else "%Y-%m-%d"
    values = {
        "number": str(payload.get("number", "")),
        "title": str(payload.get("title", "")),
        "date": at("window_starts_at", pattern=date_pattern),
        "window": f"{at('window_starts_at')}–{at('window_ends_at')}",
        "start": at("planned_start_at"),
        "eta": at("eta"),
        "engineer": str(payload.get("engineer_first_name") or names.get("engineer") or unknown),
        "summary": str(payload.get("summary") or "—"),
        **links,
    }
    if staff:
        values.update(
            priority=str(staff.get("priority", "")),
            target=str(staff.get("target") or ""),
            due_at=at("due_at", staff, f"{date_pattern} %H:%M"),
            score=str(staff.get("score", "")),
            comment=str(staff.get("comment") or "—"),
            reason=str(staff.get("reason", "")),
            note=str(staff.get("note") or "—"),
        )
    return values
