"""The README's examples, run as a newcomer would paste them, against a fresh demo."""

from __future__ import annotations

import re
import signal
import smtplib
import subprocess
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from fsm.settings import MailInSettings
from tests.faults.conftest import ROOT
from tests.faults.test_run_command import Run
from tests.faults.test_run_command import run as run

README = (ROOT / "README.md").read_text()


def _api_blocks() -> list[str]:
    """Every shell block of the README that talks to the running API."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [b for b in blocks if "localhost:8000" in b]


@pytest.fixture
def served(run: Run) -> Iterator[Run]:
    """`fsm dev` serving the demo on ports of its own, stopped as Ctrl-C would."""
    process = run.serve()
    try:
        yield run
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def _bash(script: str, run: Run, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env={**run.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_examples_and_the_examples_script_work_against_the_demo(
    served: Run,
) -> None:
    blocks = _api_blocks()
    assert blocks, "the README shows how to talk to the API"
    here = f"127.0.0.1:{served.api_port}"
    for block in blocks:
        pasted = _bash(block.replace("localhost:8000", here), served)
        assert pasted.returncode == 0, pasted.stderr
        assert '"items"' in pasted.stdout, pasted.stdout  # the sites near the centre

    script = _bash(str(Path("scripts/examples.sh")), served, FSM_URL=f"http://{here}")

    assert script.returncode == 0, script.stdout + script.stderr
    assert "health: ok" in script.stdout
    assert re.search(r"engineer1: [1-9]\d* jobs on ", script.stdout), script.stdout
    assert re.search(r'first job WO-\d{4}-\d{6}, checklist "[^"]+"', script.stdout)
    assert re.search(r"client: [1-9]\d* units", script.stdout), script.stdout
    # The demo's own changes are told: their mail is caught where the README says.
    assert _first_mail_to("client@demo.fieldline.dev", served.data_dir / "mail") is not None
    # And it takes mail in: a client's mail to the support address reaches the office (the
    # demo company has several sites, so a dispatcher places it).
    subject = f"Lift 3 stuck between floors ({uuid.uuid4().hex[:8]})"
    _mail_support(served, subject)
    assert _held_mail_subjects(served, subject) == [subject]


def _mail_support(run: Run, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "client@demo.fieldline.dev"
    message["To"] = MailInSettings.address
    message["Subject"] = subject
    message.set_content("Please send someone today.")
    for _ in range(300):  # `fsm mail-in` starts beside the API
        try:
            with smtplib.SMTP("127.0.0.1", run.mail_in_port, timeout=10) as smtp:
                smtp.send_message(message)
            return
        except ConnectionRefusedError:
            time.sleep(0.1)
    pytest.fail("fsm dev's mail-in never listened")


def _held_mail_subjects(run: Run, subject: str) -> list[str]:
    url = f"http://127.0.0.1:{run.api_port}"
    token = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"email": "dispatch@demo.fieldline.dev", "password": "fieldline-demo"},
    ).json()["access_token"]
    held = httpx.get(
        f"{url}/api/v1/inbound-mail",
        params={"state": "held"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert held.status_code == 200, held.text
    return [m["subject"] for m in held.json()["items"] if m["subject"] == subject]


def _first_mail_to(address: str, folder: Path) -> str | None:
    """The first .eml in `folder` addressed to `address`, waiting up to a minute for it."""
    for _ in range(600):
        for path in sorted(folder.glob("*.eml")):
            text = path.read_text(errors="replace")
            if f"To: {address}" in text:
                return text
        time.sleep(0.1)
    return None
