"""The `fsm` command: migrate, create the first admin, load demo data, serve, run locally."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import click

from fsm.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")

DEFAULT_DATA_DIR = Path(".data")


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro_fn())


def _run_job(job: Callable[[Settings, async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run one recurring job now, on an engine of its own that is disposed after."""
    from fsm.db import create_engine, create_session_factory

    settings = _settings()

    async def run() -> T:
        engine = create_engine(settings.database)
        try:
            return await job(settings, create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@click.group()
def cli() -> None:
    """fieldline: field service management backend."""


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION."""
    from fsm.main.migrate import upgrade

    upgrade(_settings().database.url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.option("--revision", required=True)
def db_downgrade(revision: str) -> None:
    """Revert the database to REVISION."""
    from fsm.main.migrate import downgrade

    downgrade(_settings().database.url, revision)
    click.echo(f"database at {revision}")


@cli.group()
def users() -> None:
    """User accounts."""


@users.command("create-admin")
@click.option("--email", required=True)
@click.option("--full-name", default="Administrator", show_default=True)
@click.password_option(envvar="FSM_ADMIN_PASSWORD", help="Or set FSM_ADMIN_PASSWORD.")
def create_admin(email: str, full_name: str, password: str) -> None:
    """Create an admin user."""
    from fsm.db import create_engine, create_session_factory, session_scope
    from fsm.errors import DomainError
    from fsm.users.models import Role
    from fsm.users.service import UserService

    async def create() -> None:
        engine = create_engine(_settings().database)
        try:
            async with session_scope(create_session_factory(engine)) as session:
                await UserService(session).create(
                    email=email, full_name=full_name, password=password, role=Role.ADMIN
                )
        finally:
            await engine.dispose()

    try:
        _run(create)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"admin {email} created")


async def _load_demo(settings: Settings) -> None:
    from datetime import date

    from sqlalchemy import select

    from fsm.db import create_engine, create_session_factory, session_scope
    from fsm.main.demo import DEMO_PASSWORD, load_demo
    from fsm.main.demo_work import load_demo_work
    from fsm.users.models import User

    engine = create_engine(settings.database)
    work = None
    try:
        async with session_scope(create_session_factory(engine)) as session:
            summary = await load_demo(session)
            if summary.clients:
                staff = {
                    u.email: u
                    for u in (
                        await session.scalars(
                            select(User).where(
                                User.email.in_(
                                    [summary.logins["admin"], summary.logins["dispatcher"]]
                                )
                            )
                        )
                    ).all()
                }
                work = await load_demo_work(
                    session,
                    admin=staff[summary.logins["admin"]],
                    dispatcher=staff[summary.logins["dispatcher"]],
                    today=date.today(),
                    settings=settings,
                )
    finally:
        await engine.dispose()
    if summary.clients:
        click.echo(
            f"demo data: {summary.clients} clients, {summary.sites} sites, "
            f"{summary.engineers} engineers"
        )
        if work is not None:
            click.echo(
                f"demo work: {work.equipment} units under {work.contracts} contracts, "
                f"{work.work_orders} work orders with visits on {work.route_day.isoformat()}"
            )
    else:
        click.echo("demo data: already there")
    click.echo(f"demo sign-ins (password {DEMO_PASSWORD!r}):")
    for role, email in summary.logins.items():
        click.echo(f"  {role:<10} {email}")


@cli.group()
def jobs() -> None:
    """Recurring jobs, run on demand (`fsm worker` runs them on schedule)."""


@jobs.command("sla-watch")
def jobs_sla_watch() -> None:
    """Flag work orders whose SLA deadlines are near or passed, now."""
    from fsm.db import create_engine, create_session_factory, utcnow
    from fsm.jobs import run_locked
    from fsm.workorders.sla_clock import SlaClock

    settings = _settings()
    counts: list[int] = []

    async def run() -> bool:
        engine = create_engine(settings.database)

        async def work(session: Any) -> None:
            service = SlaClock(session, warning_minutes=settings.workorders.sla_warning_minutes)
            counts.extend(await service.watch(utcnow()))

        try:
            return await run_locked(create_session_factory(engine), "sla_watch", work)
        finally:
            await engine.dispose()

    if _run(run):
        click.echo(f"SLA watch: {counts[0]} at risk, {counts[1]} breached")
    else:
        click.echo("SLA watch is running in another process; skipped")


@jobs.command("maintenance")
def jobs_maintenance() -> None:
    """Open maintenance work orders for service periods coming due, now."""
    from fsm.main.scheduler import run_maintenance_job

    result = _run_job(run_maintenance_job)
    if result is None:
        click.echo("maintenance is running in another process; skipped")
    else:
        click.echo(
            f"maintenance: {result[0]} work orders opened, {result[1]} periods done, "
            f"{result[2]} missed"
        )


@jobs.command("thumbnails")
def jobs_thumbnails() -> None:
    """Thumbnail stored photos still waiting (normally done right after each confirm)."""
    from fsm.main.scheduler import run_photo_thumbnails

    verified, rejected, failed = _run_job(run_photo_thumbnails)
    click.echo(f"thumbnails: {verified} verified, {rejected} rejected, {failed} failed")


@jobs.command("photo-cleanup")
def jobs_photo_cleanup() -> None:
    """Drop photo reservations never confirmed within a week, with their uploaded bytes."""
    from fsm.main.scheduler import run_photo_cleanup

    click.echo(f"photo cleanup: {_run_job(run_photo_cleanup)} abandoned reservations dropped")


@jobs.command("dispatch-sweep")
def jobs_dispatch_sweep() -> None:
    """Mark failed the dispatch runs a dead worker left solving; queue again lost ones."""
    from fsm.main.scheduler import run_dispatch_sweep
    from fsm.queue import ProcrastinateQueue, create_queue_app

    async def sweep(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> int:
        queue_app = create_queue_app(settings.database, pool_size=1)
        async with queue_app.open_async():
            return await run_dispatch_sweep(settings, factory, ProcrastinateQueue(queue_app))

    click.echo(f"dispatch sweep: {_run_job(sweep)} interrupted runs marked failed")


@jobs.command("mobile-housekeeping")
def jobs_mobile_housekeeping() -> None:
    """Forget expired idempotency keys and change-feed rows past their retention."""
    from fsm.main.scheduler import run_mobile_housekeeping

    keys, rows = _run_job(run_mobile_housekeeping)
    click.echo(f"mobile housekeeping: {keys} idempotency keys, {rows} change-feed rows purged")


@jobs.command("webhooks")
def jobs_webhooks() -> None:
    """Turn new events into webhook deliveries and send those due now."""
    from fsm.main.scheduler import run_webhooks_job

    made, sent = _run_job(run_webhooks_job)
    click.echo(f"webhooks: {made} deliveries made, {sent} attempts sent")


@jobs.command("report-rollups")
def jobs_report_rollups() -> None:
    """Fold the reports' day rollups into one row per day and kind."""
    from fsm.main.scheduler import run_report_rollups

    removed = _run_job(lambda settings, factory: run_report_rollups(factory))
    click.echo(f"report rollups: {removed} rows folded away")


@cli.command()
def demo() -> None:
    """Load the demo city into an empty database."""
    _run(lambda: _load_demo(_settings()))


@cli.command()
@click.option("--host", default=None, help="Default: FSM_HOST or 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Default: FSM_PORT or 8000.")
@click.option("--workers", type=int, default=1, show_default=True)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    settings = _settings()
    uvicorn.run(
        "fsm.main.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


@cli.command()
@click.option("--concurrency", type=int, default=None, help="Default: FSM_WORKER_CONCURRENCY.")
@click.option("--name", default=None, help="Shown in logs and in the queue's tables.")
def worker(concurrency: int | None, name: str | None) -> None:
    """Run queued and periodic jobs and deliver notifications, until stopped."""
    import logging

    from fsm.main.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = _settings()
    _run(lambda: run_worker(settings, concurrency=concurrency, name=name))


@cli.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: FSM_SMTP_PORT (8025).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR / "mail",
    show_default=True,
)
def mail_sink(host: str, port: int | None, directory: Path) -> None:
    """A local SMTP server that writes every message it gets to DIR as an .eml file."""
    from fsm.main.mailsink import MailSink

    sink = MailSink(host=host, port=port or _settings().mail.smtp_port, directory=directory)
    click.echo(f"mail sink on {host}:{sink.port}, writing to {directory}")
    _run(sink.serve_forever)


def _start_beside(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """A child `fsm` process for `fsm dev` (the worker, the mail sink), its output in a file.

    On Linux the child is told to stop when `fsm dev` dies, even by SIGKILL, so a killed run
    leaves no worker or sink behind.
    """
    with log_path.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "fsm.main.cli", *command],
            stdout=out,
            stderr=out,
            preexec_fn=_stop_with_parent if sys.platform == "linux" else None,
        )


def _stop_with_parent() -> None:
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the local database and object store keep their files.",
)
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--no-serve", is_flag=True, help="Set up and exit (for scripts and CI).")
def dev(data_dir: Path, host: str | None, port: int | None, no_serve: bool) -> None:
    """Run on the embedded default: local PostgreSQL+PostGIS and S3, migrated, demo loaded."""
    from fsm.main.localinfra import LocalInfraError, LocalPostgres, LocalS3
    from fsm.main.migrate import upgrade
    from fsm.storage import ObjectStore

    # Stopping with SIGTERM (not only Ctrl-C) must still stop the services we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = _settings()
    db_url = urlparse(settings.database.url.replace("+asyncpg", ""))
    s3_url = urlparse(settings.s3.endpoint_url or "")
    if db_url.hostname not in {"127.0.0.1", "localhost"} or s3_url.hostname not in {
        "127.0.0.1",
        "localhost",
    }:
        raise click.ClickException(
            "`fsm dev` runs its own local database and object store; unset FSM_DATABASE_URL "
            "and FSM_S3_ENDPOINT_URL or point them at 127.0.0.1"
        )
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # the postgres service user must reach its folder inside
    postgres = LocalPostgres(data_dir=data_dir / "postgres", port=db_url.port or 5432)
    s3 = LocalS3(
        data_dir=data_dir / "s3",
        port=s3_url.port or 18333,
        access_key=settings.s3.access_key,
        secret_key=settings.s3.secret_key,
    )
    started = time.monotonic()
    keep_postgres = os.environ.get("FSM_DEV_KEEP_POSTGRES") == "1"
    children: list[subprocess.Popen[bytes]] = []

    def step(message: str) -> None:
        click.echo(f"[{time.monotonic() - started:5.1f}s] {message}")

    try:
        step(f"postgres: {data_dir / 'postgres'} on 127.0.0.1:{postgres.port}")
        _say_reused("PostgreSQL", postgres.start(), keep=keep_postgres)
        postgres.ensure_database((db_url.path or "/fieldline").lstrip("/"))
        step(f"s3: {data_dir / 's3'} on {s3.endpoint}")
        _say_reused("SeaweedFS", s3.start(), keep=False)
        _run(ObjectStore(settings.s3).ensure_bucket)
        step("migrating")
        upgrade(settings.database.url)
        _run(lambda: _load_demo(settings))
        step("ready")
        if no_serve:
            return
        mail_dir = data_dir / "mail"
        children.append(
            _start_beside(["mail-sink", "--dir", str(mail_dir)], data_dir / "mail-sink.log")
        )
        children.append(_start_beside(["worker"], data_dir / "worker.log"))
        children.append(_start_beside(["mail-in"], data_dir / "mail-in.log"))
        step(
            f"worker and periodic jobs started (log: {data_dir / 'worker.log'}); mail is "
            f"caught on 127.0.0.1:{settings.mail.smtp_port} and written to {mail_dir}; "
            f"mail to {settings.mail_in.address} on "
            f"{settings.mail_in.host}:{settings.mail_in.port} opens requests"
        )
        host = host or settings.host
        port = port or settings.port
        click.echo(f"API on http://{host}:{port}  (OpenAPI docs: http://{host}:{port}/schema)")
        serve.callback(host=host, port=port, workers=1)  # type: ignore[misc]
    except LocalInfraError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        _stop(children)
        # Whoever started them (this run or one that crashed), the data folder's services
        # end with the run, so nothing is left listening.
        s3.stop()
        if not keep_postgres:
            postgres.stop()


@cli.command("mail-in")
def mail_in() -> None:
    """Take mail to the support address over SMTP (FSM_MAIL_IN_HOST/PORT/ADDRESS)."""
    from fsm.main.mail_in import serve_mail_in

    _run(lambda: serve_mail_in(_settings()))


def _say_reused(service: str, pid: int | None, *, keep: bool) -> None:
    if pid is not None:
        fate = "kept running" if keep else "stopped"
        click.echo(
            f"        reusing {service} left running by an earlier run (pid {pid}); "
            f"it will be {fate} when this run ends"
        )


def main() -> None:
    """Entry point of the `fsm` console script."""
    try:
        cli()
    except SettingsError as exc:  # raised while importing settings in a sub-command
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
