"""One typed settings object, read from `FSM_*` environment variables."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Environment = Literal["development", "test", "production"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Defaults that are fine on a developer's machine and refused in production.
_DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
_DEV_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:54329/fieldline"


class SettingsError(ValueError):
    """Settings are missing or malformed; the message names every bad variable."""


# An access token lives a day at most: a stolen one must expire (refresh tokens renew).
MAX_ACCESS_TOKEN_MINUTES = 24 * 60


@dataclass(frozen=True)
class DatabaseSettings:
    """Where PostgreSQL is and how many connections we keep."""

    url: str = _DEV_DATABASE_URL
    pool_size: int = 10
    max_overflow: int = 10
    echo: bool = False

    @property
    def sync_url(self) -> str:
        """The same database through the synchronous psycopg driver (Alembic, APScheduler)."""
        return self.url.replace("+asyncpg", "+psycopg", 1)


@dataclass(frozen=True)
class S3Settings:
    """Object store for photo evidence; always SigV4-signed."""

    endpoint_url: str | None = "http://127.0.0.1:18333"
    bucket: str = "fieldline"
    access_key: str = "fieldline-dev"
    secret_key: str = "fieldline-dev-secret"
    region: str = "us-east-1"
    presign_expiry_s: int = 900


@dataclass(frozen=True)
class PhotoSettings:
    """Photo evidence: upload limits, URL lifetimes and thumbnails."""

    max_bytes: int = 15 * 1024 * 1024
    upload_url_ttl_s: int = 900
    download_url_ttl_s: int = 300
    thumbnail_edge_px: int = 512
    # Decoded pixels an original may have; a 48 MP phone camera fits, bombs do not.
    max_pixels: int = 64_000_000


@dataclass(frozen=True)
class AuthSettings:
    """Token signing and lifetimes, and the brake on password guessing."""

    jwt_secret: str = _DEV_JWT_SECRET
    access_token_minutes: int = 15  # at most MAX_ACCESS_TOKEN_MINUTES
    refresh_token_days: int = 30
    # Failed sign-ins one email may have from one address before each try must wait.
    login_max_failures: int = 5
    # Failures are forgotten this long after the last one's wait has passed.
    login_window_minutes: int = 15
    # The first wait; each further failure doubles it, up to the cap.
    login_backoff_base_s: int = 2
    login_backoff_max_s: int = 900
    # Failures from one address, all emails together, after which an email failing there
    # waits from its first failure; emails without failures there are never held up.
    login_address_max_failures: int = 100
    # Reverse proxies whose X-Forwarded-For is believed; none by default.
    trusted_proxies: tuple[Network, ...] = ()


@dataclass(frozen=True)
class WorkOrderSettings:
    """Rules of the work-order flow that operators tune."""

    reopen_window_days: int = 7
    sla_warning_minutes: int = 60


@dataclass(frozen=True)
class SchedulerSettings:
    """Recurring jobs: maintenance generation and the SLA watch."""

    maintenance_horizon_days: int = 14


@dataclass(frozen=True)
class SolverSettings:
    """Defaults for the dispatcher's travel-time model and solver budget."""

    time_limit_s: int = 10
    road_factor: float = 1.3
    average_speed_kmh: float = 40.0
    osrm_url: str | None = None
    # The largest budget a dispatcher may ask for; runs above sync_limit_s go to the background.
    max_time_limit_s: int = 120
    sync_limit_s: int = 10
    # A background run not finished this long after its budget ended counts as interrupted.
    run_grace_s: int = 60
    # Background runs one process solves at once; more are refused (429) until one ends.
    max_concurrent_runs: int = 2


@dataclass(frozen=True)
class MobileSettings:
    """The apps' offline support: how long idempotency keys and the change feed are kept."""

    idempotency_ttl_hours: int = 7 * 24
    # An app whose cursor is older than this gets its full state again instead of changes.
    change_feed_retention_days: int = 30


@dataclass(frozen=True)
class MailInSettings:
    """`fsm mail-in`: where it listens, the address it takes mail for, what it accepts."""

    host: str = "127.0.0.1"
    port: int = 2525
    # The support address; mail to any other recipient is refused at RCPT.
    address: str = "support@fieldline.localhost"
    max_bytes: int = 25 * 1024 * 1024


@dataclass(frozen=True)
class StreamSettings:
    """The apps' live streams (server-sent events)."""

    # A stream reads the outbox at least this often even without a notification, and sends
    # a keep-alive comment when there was nothing to say.
    heartbeat_s: int = 15


@dataclass(frozen=True)
class WebhookSettings:
    """Outgoing webhooks: timeouts, the retry schedule, and which targets are refused."""

    timeout_s: int = 10
    max_attempts: int = 8
    first_retry_s: int = 30
    # An endpoint failing without a single success for this long is disabled.
    disable_after_days: int = 3
    # Development only: allow private and loopback targets (a receiver on this machine).
    allow_private_targets: bool = False


@dataclass(frozen=True)
class MailSettings:
    """Mail out: the SMTP server, our sender, and where links in mails point."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = 30.0
    from_address: str = "fieldline <notifications@fieldline.local>"
    # The public address of the apps' API, for links (the visit report, the rating).
    public_url: str = "http://127.0.0.1:8000"
    max_attempts: int = 6


@dataclass(frozen=True)
class WorkerSettings:
    """The job queue's workers: how many jobs each runs at once, how they watch each other."""

    concurrency: int = 4
    heartbeat_s: float = 10.0
    # A worker silent this long is taken for dead and its running jobs are retried.
    stalled_after_s: float = 30.0


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    env: Environment = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    photos: PhotoSettings = field(default_factory=PhotoSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    workorders: WorkOrderSettings = field(default_factory=WorkOrderSettings)
    solver: SolverSettings = field(default_factory=SolverSettings)
    mobile: MobileSettings = field(default_factory=MobileSettings)
    mail_in: MailInSettings = field(default_factory=MailInSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    streams: StreamSettings = field(default_factory=StreamSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Variables production must set explicitly: a default there would be a silent security hole.
_REQUIRED_IN_PRODUCTION = (
    "FSM_DATABASE_URL",
    "FSM_JWT_SECRET",
    "FSM_S3_BUCKET",
    "FSM_S3_ACCESS_KEY",
    "FSM_S3_SECRET_KEY",
)


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.errors: list[str] = []

    def text(self, name: str, default: str) -> str:
        return self.environ.get(name, default)

    def optional_text(self, name: str, default: str | None) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return default
        return value or None

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        raw = self.environ.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors.append(f"{name}: expected a whole number, got {raw!r}")
            return default
        if value < minimum:
            self.errors.append(f"{name}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.errors.append(f"{name}: must be at most {maximum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.environ.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.errors.append(f"{name}: expected a number, got {raw!r}")
            return default
        if value <= 0:
            self.errors.append(f"{name}: must be positive, got {value}")
        return value

    def networks(self, name: str) -> tuple[Network, ...]:
        """Comma-separated addresses or CIDR blocks."""
        found: list[Network] = []
        for part in self.environ.get(name, "").split(","):
            if not part.strip():
                continue
            try:
                found.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                self.errors.append(f"{name}: expected IP addresses or CIDR blocks, got {part!r}")
        return tuple(found)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.errors.append(f"{name}: expected true or false, got {raw!r}")
        return default


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `environ` (default: the process environment).

    Raises:
        SettingsError: a value is malformed, or production lacks a required variable.
    """
    env_map = os.environ if environ is None else environ
    read = _Reader(env_map)
    env = read.text("FSM_ENV", "development")
    if env not in ("development", "test", "production"):
        read.errors.append(f"FSM_ENV: expected development, test or production, got {env!r}")
        env = "development"
    if env == "production":
        read.errors.extend(
            f"{name}: required in production"
            for name in _REQUIRED_IN_PRODUCTION
            if not env_map.get(name)
        )
    jwt_secret = read.text("FSM_JWT_SECRET", _DEV_JWT_SECRET)
    if env == "production" and jwt_secret and len(jwt_secret) < 32:
        read.errors.append("FSM_JWT_SECRET: must be at least 32 characters in production")
    if env == "production" and jwt_secret == _DEV_JWT_SECRET:
        read.errors.append("FSM_JWT_SECRET: the development secret is public; set your own")
    db_url = read.text("FSM_DATABASE_URL", _DEV_DATABASE_URL)
    if not db_url.startswith("postgresql"):
        read.errors.append("FSM_DATABASE_URL: expected a postgresql+asyncpg:// URL")
    elif db_url.startswith("postgresql://"):
        db_url = db_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    settings = Settings(
        env=env,  # type: ignore[arg-type]
        host=read.text("FSM_HOST", "127.0.0.1"),
        port=read.integer("FSM_PORT", 8000, minimum=1),
        database=DatabaseSettings(
            url=db_url,
            pool_size=read.integer("FSM_DATABASE_POOL_SIZE", 10, minimum=1),
            max_overflow=read.integer("FSM_DATABASE_MAX_OVERFLOW", 10),
            echo=read.flag("FSM_DATABASE_ECHO", False),
        ),
        s3=S3Settings(
            endpoint_url=read.optional_text("FSM_S3_ENDPOINT_URL", S3Settings.endpoint_url),
            bucket=read.text("FSM_S3_BUCKET", S3Settings.bucket),
            access_key=read.text("FSM_S3_ACCESS_KEY", S3Settings.access_key),
            secret_key=read.text("FSM_S3_SECRET_KEY", S3Settings.secret_key),
            region=read.text("FSM_S3_REGION", S3Settings.region),
            presign_expiry_s=read.integer("FSM_S3_PRESIGN_EXPIRY_S", 900, minimum=1),
        ),
        photos=PhotoSettings(
            max_bytes=read.integer("FSM_PHOTO_MAX_BYTES", PhotoSettings.max_bytes, minimum=1),
            upload_url_ttl_s=read.integer(
                "FSM_PHOTO_UPLOAD_URL_TTL_S", PhotoSettings.upload_url_ttl_s, minimum=1
            ),
            download_url_ttl_s=read.integer(
                "FSM_PHOTO_DOWNLOAD_URL_TTL_S", PhotoSettings.download_url_ttl_s, minimum=1
            ),
            thumbnail_edge_px=read.integer(
                "FSM_PHOTO_THUMBNAIL_EDGE_PX", PhotoSettings.thumbnail_edge_px, minimum=16
            ),
            max_pixels=read.integer("FSM_PHOTO_MAX_PIXELS", PhotoSettings.max_pixels, minimum=1),
        ),
        auth=AuthSettings(
            jwt_secret=jwt_secret,
            access_token_minutes=read.integer(
                "FSM_ACCESS_TOKEN_MINUTES", 15, minimum=1, maximum=MAX_ACCESS_TOKEN_MINUTES
            ),
            refresh_token_days=read.integer("FSM_REFRESH_TOKEN_DAYS", 30, minimum=1),
            login_max_failures=read.integer("FSM_LOGIN_MAX_FAILURES", 5, minimum=1),
            login_window_minutes=read.integer("FSM_LOGIN_WINDOW_MINUTES", 15, minimum=1),
            login_backoff_base_s=read.integer("FSM_LOGIN_BACKOFF_BASE_S", 2, minimum=1),
            login_backoff_max_s=read.integer("FSM_LOGIN_BACKOFF_MAX_S", 900, minimum=1),
            login_address_max_failures=read.integer(
                "FSM_LOGIN_ADDRESS_MAX_FAILURES", 100, minimum=1
            ),
            trusted_proxies=read.networks("FSM_TRUSTED_PROXIES"),
        ),
        scheduler=SchedulerSettings(
            maintenance_horizon_days=read.integer("FSM_MAINTENANCE_HORIZON_DAYS", 14),
        ),
        workorders=WorkOrderSettings(
            reopen_window_days=read.integer("FSM_REOPEN_WINDOW_DAYS", 7),
            sla_warning_minutes=read.integer("FSM_SLA_WARNING_MINUTES", 60, minimum=1),
        ),
        solver=SolverSettings(
            time_limit_s=read.integer("FSM_SOLVER_TIME_LIMIT_S", 10, minimum=1),
            road_factor=read.number("FSM_SOLVER_ROAD_FACTOR", 1.3),
            average_speed_kmh=read.number("FSM_SOLVER_AVERAGE_SPEED_KMH", 40.0),
            osrm_url=read.optional_text("FSM_SOLVER_OSRM_URL", None),
            max_time_limit_s=read.integer("FSM_SOLVER_MAX_TIME_LIMIT_S", 120, minimum=1),
            sync_limit_s=read.integer("FSM_DISPATCH_SYNC_LIMIT_SECONDS", 10, minimum=0),
            run_grace_s=read.integer("FSM_DISPATCH_RUN_GRACE_SECONDS", 60, minimum=0),
            max_concurrent_runs=read.integer("FSM_DISPATCH_MAX_CONCURRENT_RUNS", 2, minimum=1),
        ),
        mobile=MobileSettings(
            idempotency_ttl_hours=read.integer("FSM_IDEMPOTENCY_TTL_HOURS", 7 * 24, minimum=1),
            change_feed_retention_days=read.integer(
                "FSM_CHANGE_FEED_RETENTION_DAYS", 30, minimum=2
            ),
        ),
        mail_in=MailInSettings(
            host=read.text("FSM_MAIL_IN_HOST", MailInSettings.host),
            port=read.integer("FSM_MAIL_IN_PORT", MailInSettings.port, minimum=1),
            address=read.text("FSM_MAIL_IN_ADDRESS", MailInSettings.address).lower(),
            max_bytes=read.integer("FSM_MAIL_IN_MAX_BYTES", MailInSettings.max_bytes, minimum=1),
        ),
        webhooks=WebhookSettings(
            timeout_s=read.integer("FSM_WEBHOOK_TIMEOUT_S", 10, minimum=1),
            max_attempts=read.integer("FSM_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1),
            first_retry_s=read.integer("FSM_WEBHOOK_FIRST_RETRY_S", 30, minimum=1),
            disable_after_days=read.integer("FSM_WEBHOOK_DISABLE_AFTER_DAYS", 3, minimum=1),
            allow_private_targets=read.flag("FSM_WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
        ),
        streams=StreamSettings(
            heartbeat_s=read.integer("FSM_STREAM_HEARTBEAT_S", 15, minimum=1),
        ),
        mail=MailSettings(
            smtp_host=read.text("FSM_SMTP_HOST", MailSettings.smtp_host),
            smtp_port=read.integer("FSM_SMTP_PORT", MailSettings.smtp_port, minimum=1),
            smtp_username=read.optional_text("FSM_SMTP_USERNAME", None),
            smtp_password=read.optional_text("FSM_SMTP_PASSWORD", None),
            smtp_starttls=read.flag("FSM_SMTP_STARTTLS", False),
            smtp_timeout_s=read.number("FSM_SMTP_TIMEOUT_S", MailSettings.smtp_timeout_s),
            from_address=read.text("FSM_MAIL_FROM", MailSettings.from_address),
            public_url=read.text("FSM_PUBLIC_URL", MailSettings.public_url).rstrip("/"),
            max_attempts=read.integer("FSM_MAIL_MAX_ATTEMPTS", 6, minimum=1),
        ),
        worker=WorkerSettings(
            concurrency=read.integer("FSM_WORKER_CONCURRENCY", 4, minimum=1),
            heartbeat_s=read.number("FSM_WORKER_HEARTBEAT_S", WorkerSettings.heartbeat_s),
            stalled_after_s=read.number(
                "FSM_WORKER_STALLED_AFTER_S", WorkerSettings.stalled_after_s
            ),
        ),
    )
    if read.errors:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(read.errors))
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
