"""The README's examples, run as a newcomer would paste them, against a fresh demo."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def _first_mail_to(address: str, folder: Path) -> str | None:
    """The first .eml in `folder` addressed to `address`, waiting up to a minute for it."""
    for _ in range(600):
        for path in sorted(folder.glob("*.eml")):
            text = path.read_text(errors="replace")
            if f"To: {address}" in text:
                return text
        time.sleep(0.1)
    return None
