"""The run command after a crash: it says what it reuses, and leaves nothing running."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fsm.main.localinfra import LocalPostgres, LocalS3, free_port, listener_pid
from tests.conftest import _s3_port
from tests.faults.conftest import ROOT


class Run:
    """`fsm dev` on a data folder and ports of its own."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pg_port, self.s3_port, self.api_port = free_port(), _s3_port(), free_port()
        self.smtp_port, self.mail_in_port = free_port(), free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FSM_")},
            "FSM_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/demo",
            "FSM_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.s3_port}",
            "FSM_PORT": str(self.api_port),
            "FSM_SMTP_PORT": str(self.smtp_port),
            "FSM_MAIL_IN_PORT": str(self.mail_in_port),
        }

    def command(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "fsm.main.cli",
            "dev",
            "--data-dir",
            str(self.data_dir),
            *extra,
        ]

    def no_serve(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command("--no-serve"),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def serve(self, *, timeout_s: float = 120.0) -> subprocess.Popen[bytes]:
        """`fsm dev` serving, once its /health answers 200; the test ends the process."""
        log = self.data_dir.parent / "run.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the run command exited: {log.read_text(errors='replace')!r}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.api_port}/health").status_code == 200:
                    return process
            except httpx.TransportError:
                time.sleep(0.2)
        process.kill()
        process.wait()
        pytest.fail("the run command never served /health")

    def cleanup(self) -> None:
        """End whatever a failed test left behind."""
        LocalPostgres(self.data_dir / "postgres", self.pg_port).stop()
        s3 = LocalS3(self.data_dir / "s3", self.s3_port, "", "")
        s3.adopted_pid = s3.running_pid()
        s3.stop()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def run() -> Iterator[Run]:
    # Not under pytest's tmp_path: the postgres service user must reach the folder.
    base = Path(tempfile.mkdtemp(prefix="fieldline-run-"))
    base.chmod(0o755)
    made = Run(base / "data")
    try:
        yield made
    finally:
        made.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def test_after_a_crash_the_next_run_says_what_it_reuses_and_stops_it_on_exit(run: Run) -> None:
    first = run.serve()
    first.send_signal(signal.SIGKILL)  # the crash: no clean-up runs
    first.wait()
    left = {port: listener_pid(port) for port in (run.pg_port, run.s3_port)}
    assert all(left.values()), "the crash should leave both services running"

    second = run.no_serve()

    assert second.returncode == 0, second.stdout + second.stderr
    assert f"reusing PostgreSQL left running by an earlier run (pid {left[run.pg_port]})" in (
        second.stdout
    )
    assert f"reusing SeaweedFS left running by an earlier run (pid {left[run.s3_port]})" in (
        second.stdout
    )
    assert not _listening(run.pg_port)
    assert not _listening(run.s3_port)


def test_a_stranger_on_the_store_port_is_refused_by_name(run: Run) -> None:
    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("127.0.0.1", run.s3_port))
        stranger.listen()

        refused = run.no_serve()

    assert refused.returncode != 0
    assert f"port {run.s3_port} is taken by pid {os.getpid()}" in refused.stderr
    assert "not this data folder's SeaweedFS" in refused.stderr
    assert not _listening(run.pg_port), "what the refused run started is stopped again"
