"""Mail templates: every kind in both languages, filled, escaped, nothing internal to clients."""

# ruff: noqa: RUF001 - Russian text and en dashes in the expected mails

from __future__ import annotations

import pytest

from fsm.notifications.templates import LANGUAGES, render
from fsm.outbox import AUDIENCES, STREAM_ONLY, Audience, EventKind

PAYLOAD = {
    "number": "WO-2026-000042",
    "title": "Lift <stuck> & noisy",
    "visit_id": "7d8e6f2a-0000-4000-8000-000000000001",
    "window_starts_at": "2026-12-02T08:00:00+00:00",
    "window_ends_at": "2026-12-02T12:00:00+00:00",
    "planned_start_at": "2026-12-02T09:30:00+00:00",
    "eta": "2026-12-02T09:45:00+00:00",
    "timezone": "Europe/Berlin",
    "engineer_first_name": "Pavel",
    "summary": "Door sensor replaced",
}
STAFF = {
    "priority": "critical",
    "target": "resolution",
    "due_at": "2026-12-02T15:00:00+00:00",
    "score": 2,
    "comment": "late",
    "reason": "no_access",
    "note": "gate locked",
}
LINKS = {"report_url": "http://x/report", "rating_url": "http://x/rating"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", [k for k in EventKind if k not in STREAM_ONLY])
def test_every_template_is_filled_and_escaped(kind: EventKind, language: str) -> None:
    mail = render(
        kind, AUDIENCES[kind], language, PAYLOAD, STAFF, links=LINKS, names={"engineer": "Pavel"}
    )
    for part in (mail.subject, mail.text, mail.html):
        assert "$" not in part
    assert "WO-2026-000042" in mail.subject + mail.text
    assert "<stuck>" not in mail.html
    if "stuck" in mail.text:
        assert "Lift &lt;stuck&gt; &amp; noisy" in mail.html
    assert f'lang="{language}"' in mail.html


def test_times_are_on_the_sites_wall_clock_in_the_readers_format() -> None:
    english = render(
        EventKind.VISIT_SCHEDULED, Audience.CLIENT, "en", PAYLOAD, {}, links={}, names={}
    )
    russian = render(
        EventKind.VISIT_SCHEDULED, Audience.CLIENT, "ru", PAYLOAD, {}, links={}, names={}
    )
    assert "on 2026-12-02, 09:00–13:00." in english.text
    assert "на 02.12.2026, в интервале 09:00–13:00." in russian.text


def test_a_clients_mail_never_reads_the_staff_part() -> None:
    for kind in (k for k, a in AUDIENCES.items() if a is Audience.CLIENT and k not in STREAM_ONLY):
        mail = render(kind, Audience.CLIENT, "en", PAYLOAD, STAFF, links=LINKS, names={})
        for secret in ("critical", "gate locked", "no_access", "resolution"):
            assert secret not in mail.text + mail.html


def test_an_unknown_language_falls_back_to_english() -> None:
    mail = render(
        EventKind.REQUEST_RECEIVED, Audience.CLIENT, "de", PAYLOAD, {}, links={}, names={}
    )
    assert mail.subject == "We received your request WO-2026-000042"
