"""Schemathesis, with every check, against the demo served by `fsm dev`, as each role.

The OpenAPI document is the contract a generated client trusts: no server error, every
answer as documented (status, headers, body), schema-valid input accepted (or refused only
by the rules tests/contract/schemathesis.toml lists), schema-invalid input refused. The run
is bounded (`--max-examples`) to keep the test command short; the figures of a run are
printed with the test's output.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import ROOT
from tests.faults.test_run_command import Run
from tests.faults.test_run_command import run as run

CONFIG = Path(__file__).with_name("schemathesis.toml")
ROLES = ("client", "engineer1", "dispatch", "admin")
# Generated cases per operation and phase: enough to meet each documented rule, few enough
# that the four runs fit the test command's budget.
MAX_EXAMPLES = 3


@pytest.fixture
def served(run: Run) -> Iterator[Run]:
    process = run.serve()
    try:
        yield run
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def _token(url: str, who: str) -> str:
    r = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"email": f"{who}@demo.fieldline.dev", "password": "fieldline-demo"},
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def _schemathesis(
    url: str, token: str, phases: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("st")
    return subprocess.run(
        [
            *(str(st), "--config-file", str(CONFIG), "run", f"{url}/schema/openapi.json"),
            # One worker: CPython 3.11's ast.parse is not thread-safe, and hypothesis calls
            # it while generating ("AST constructor recursion depth mismatch" at 2).
            *("--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--workers", "1"),
            *("--phases", phases, "--header", f"Authorization: Bearer {token}"),
            # Signing out would revoke the token the rest of the run uses.
            *("--exclude-path", "/api/v1/auth/logout", "--request-timeout", "30", "--no-color"),
            # Live streams answer forever by design (tests/live follows them).
            *("--exclude-path-regex", "/stream$"),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_role_finds_the_api_as_documented(served: Run) -> None:
    url = f"http://127.0.0.1:{served.api_port}"
    failed: dict[str, str] = {}
    for who in ROLES:
        # Examples and generated cases (positive and negative) of every operation; the
        # coverage and stateful phases walk far more cases than the test command's budget.
        done = _schemathesis(url, _token(url, who), "examples,fuzzing")
        summary = done.stdout[done.stdout.rfind("SUMMARY") :]
        print(f"--- schemathesis as {who}:\n{summary}")
        tested = re.search(r"Tested: (\d+)", summary)
        assert tested, done.stdout + done.stderr
        assert int(tested.group(1)) >= 90, summary  # the whole API, not a corner of it
        if done.returncode != 0:
            failed[who] = done.stdout
    assert not failed, "\n\n".join(f"=== as {who}\n{out}" for who, out in failed.items())
    log = (served.data_dir.parent / "run.log").read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback") - 2000 : log.find("Traceback") + 3000]
