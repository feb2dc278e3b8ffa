"""Report rollups: the support funnel's day counts, kept by the database as orders change

For first-time fix, satisfaction and maintenance compliance, one row per work order with
visits: how many went on site, the engineer of the last completed one and when the first
was completed, refreshed by statement triggers on `visits` and
`visit_status_events`, so a month's rate reads one row per request instead of its visits.

For the support funnel, two append-only tables of signed counts per UTC day: requests opened (by channel, status
and first-reaction bucket) and requests that left the backlog. Statement-level triggers on
`work_orders` append the net change of every INSERT, UPDATE and DELETE (one row per key
and statement, from the transition tables), so no writer waits on a shared counter row;
the worker's `fsm.report_rollups` job folds the rows into one per key. A reader sums.

The two rules the counts follow (when a request left the backlog, which reaction bucket it
fell in) are SQL functions here, and the live queries of the reports call the same ones.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = (
    # A request leaves the backlog when resolved, or closed or cancelled without being
    # resolved (a cancellation's last write, `updated_at`, stands in for when).
    """
    CREATE FUNCTION report_left_at(
        status work_order_status, resolved_at timestamptz, closed_at timestamptz,
        updated_at timestamptz
    ) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(
            resolved_at,
            CASE WHEN status IN ('resolved', 'closed', 'cancelled') THEN closed_at END,
            CASE WHEN status = 'cancelled' THEN updated_at END)
    $$
    """,
    # Wall-clock minutes to the first reaction, bucketed at 15, 60, 240 and 1 440 minutes
    # (0..4; 4 is above the last bound); -1 for no reaction yet.
    """
    CREATE FUNCTION report_reaction_bucket(created_at timestamptz, reacted_at timestamptz)
    RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CAST(CASE
            WHEN reacted_at IS NULL THEN -1
            WHEN extract(epoch FROM reacted_at - created_at) / 60 <= 15 THEN 0
            WHEN extract(epoch FROM reacted_at - created_at) / 60 <= 60 THEN 1
            WHEN extract(epoch FROM reacted_at - created_at) / 60 <= 240 THEN 2
            WHEN extract(epoch FROM reacted_at - created_at) / 60 <= 1440 THEN 3
            ELSE 4 END AS smallint)
    $$
    """,
)

# What one statement's rows count for: +1 for each new row, -1 for each old one, netted
# per key. `{rows}` is the sign-and-row source for the statement's kind.
_OPENED = """
        INSERT INTO report_opened_days (day, channel, status, reaction_bucket, requests)
        SELECT day, channel, status, reaction_bucket, sum(n)
        FROM ({rows}) AS change
        GROUP BY day, channel, status, reaction_bucket
        HAVING sum(n) <> 0;
"""
_OPENED_ROWS = """
            SELECT (created_at AT TIME ZONE 'UTC')::date AS day, channel, status,
                   report_reaction_bucket(created_at, first_response_at) AS reaction_bucket,
                   {sign} AS n
            FROM {table}"""
_LEFT = """
        INSERT INTO report_left_days (day, requests)
        SELECT day, sum(n)
        FROM ({rows}) AS change
        WHERE day IS NOT NULL
        GROUP BY day
        HAVING sum(n) <> 0;
"""
_LEFT_ROWS = """
            SELECT (report_left_at(status, resolved_at, closed_at, updated_at)
                    AT TIME ZONE 'UTC')::date AS day, {sign} AS n
            FROM {table}"""


def _body(sources: tuple[tuple[str, str], ...]) -> str:
    def rows(template: str) -> str:
        return "\n            UNION ALL".join(
            template.format(sign=sign, table=table) for sign, table in sources
        )

    return _OPENED.format(rows=rows(_OPENED_ROWS)) + _LEFT.format(rows=rows(_LEFT_ROWS))


_KINDS = {
    "insert": ("REFERENCING NEW TABLE AS new_rows", (("1", "new_rows"),)),
    "update": (
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        (("1", "new_rows"), ("-1", "old_rows")),
    ),
    "delete": ("REFERENCING OLD TABLE AS old_rows", (("-1", "old_rows"),)),
}


# First-time fix: per work order, how many of its visits went on site and the engineer of
# its last completed visit, refreshed by statement triggers on visits and their events.
_VISIT_FACTS = (
    """
    CREATE FUNCTION report_refresh_visit_facts(orders uuid[]) RETURNS void
    LANGUAGE sql AS $$
        -- The orders first, in id order: two transactions changing one order's visits
        -- refresh its facts in turn, and the second statement's fresh snapshot (a volatile
        -- function takes one per statement) sees what the first committed.
        SELECT count(*) FROM (
            SELECT 1 FROM work_orders WHERE id IN (SELECT unnest(orders))
            ORDER BY id FOR NO KEY UPDATE) AS locked;
        -- Joins, not correlated subqueries: a bulk insert into a table the planner still
        -- thinks empty must not become a scan of the visits per order.
        WITH asked AS (SELECT DISTINCT unnest(orders) AS id),
        on_site AS (
            SELECT v.work_order_id, count(DISTINCT e.visit_id) AS visits
            FROM asked JOIN visits v ON v.work_order_id = asked.id
            JOIN visit_status_events e ON e.visit_id = v.id AND e.to_status = 'on_site'
            GROUP BY v.work_order_id),
        last_done AS (
            SELECT DISTINCT ON (v.work_order_id) v.work_order_id, v.engineer_id
            FROM asked JOIN visits v ON v.work_order_id = asked.id
            WHERE v.status = 'completed'
            ORDER BY v.work_order_id, v.completed_at DESC, v.id DESC),
        first_done AS (
            SELECT v.work_order_id, min(v.completed_at) AS completed_at
            FROM asked JOIN visits v ON v.work_order_id = asked.id
            WHERE v.status = 'completed'
            GROUP BY v.work_order_id)
        INSERT INTO report_visit_facts
            (work_order_id, on_site_visits, engineer_id, first_completed_at)
        SELECT w.id, coalesce(on_site.visits, 0), last_done.engineer_id, first_done.completed_at
        FROM work_orders w JOIN asked ON asked.id = w.id
        LEFT JOIN on_site ON on_site.work_order_id = w.id
        LEFT JOIN last_done ON last_done.work_order_id = w.id
        LEFT JOIN first_done ON first_done.work_order_id = w.id
        ORDER BY w.id
        ON CONFLICT (work_order_id) DO UPDATE
        SET on_site_visits = excluded.on_site_visits, engineer_id = excluded.engineer_id,
            first_completed_at = excluded.first_completed_at
    $$
    """,
    # Visits born completed (planned ones change no fact until they go on site or finish).
    """
    CREATE FUNCTION report_visit_facts_on_visit_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_refresh_visit_facts(ARRAY(
            SELECT DISTINCT work_order_id FROM new_rows WHERE status = 'completed'));
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION report_visit_facts_on_visit_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_refresh_visit_facts(ARRAY(
            SELECT n.work_order_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.status = 'completed' OR o.status = 'completed'
                   OR n.work_order_id <> o.work_order_id)
              AND (n.status, n.engineer_id, n.completed_at, n.work_order_id)
                  IS DISTINCT FROM (o.status, o.engineer_id, o.completed_at, o.work_order_id)
            UNION
            SELECT o.work_order_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.work_order_id <> o.work_order_id));
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION report_visit_facts_on_visit_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_refresh_visit_facts(ARRAY(SELECT DISTINCT work_order_id FROM old_rows));
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION report_visit_facts_on_event_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_refresh_visit_facts(ARRAY(
            SELECT DISTINCT v.work_order_id FROM new_rows e JOIN visits v ON v.id = e.visit_id
            WHERE e.to_status = 'on_site'));
        RETURN NULL;
    END
    $$
    """,
    # Corrections: an event removed or changed, or a table emptied.
    """
    CREATE FUNCTION report_visit_facts_on_event_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_refresh_visit_facts(ARRAY(
            SELECT DISTINCT v.work_order_id FROM old_rows e JOIN visits v ON v.id = e.visit_id));
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION report_visit_facts_on_event_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_refresh_visit_facts(ARRAY(
            SELECT v.work_order_id FROM old_rows e JOIN visits v ON v.id = e.visit_id
            UNION
            SELECT v.work_order_id FROM new_rows e JOIN visits v ON v.id = e.visit_id));
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION report_visit_facts_on_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_refresh_visit_facts(ARRAY(SELECT work_order_id FROM report_visit_facts));
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER report_visit_facts_on_event_delete AFTER DELETE ON visit_status_events
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_event_change()
    """,
    """
    CREATE TRIGGER report_visit_facts_on_event_update AFTER UPDATE ON visit_status_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_event_update()
    """,
    """
    CREATE TRIGGER report_visit_facts_on_event_truncate AFTER TRUNCATE ON visit_status_events
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_truncate()
    """,
    """
    CREATE TRIGGER report_visit_facts_on_visit_truncate AFTER TRUNCATE ON visits
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_truncate()
    """,
    """
    CREATE TRIGGER report_visit_facts_on_visit_insert AFTER INSERT ON visits
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_visit_insert()
    """,
    """
    CREATE TRIGGER report_visit_facts_on_visit_update AFTER UPDATE ON visits
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_visit_update()
    """,
    """
    CREATE TRIGGER report_visit_facts_on_visit_delete AFTER DELETE ON visits
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_visit_delete()
    """,
    """
    CREATE TRIGGER report_visit_facts_on_event_insert AFTER INSERT ON visit_status_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_visit_facts_on_event_insert()
    """,
)
_DROP_VISIT_FACTS = (
    "DROP TRIGGER report_visit_facts_on_visit_truncate ON visits",
    "DROP TRIGGER report_visit_facts_on_event_truncate ON visit_status_events",
    "DROP TRIGGER report_visit_facts_on_event_update ON visit_status_events",
    "DROP TRIGGER report_visit_facts_on_event_delete ON visit_status_events",
    "DROP FUNCTION report_visit_facts_on_truncate()",
    "DROP FUNCTION report_visit_facts_on_event_change()",
    "DROP FUNCTION report_visit_facts_on_event_update()",
    "DROP TRIGGER report_visit_facts_on_event_insert ON visit_status_events",
    "DROP TRIGGER report_visit_facts_on_visit_delete ON visits",
    "DROP TRIGGER report_visit_facts_on_visit_update ON visits",
    "DROP TRIGGER report_visit_facts_on_visit_insert ON visits",
    "DROP FUNCTION report_visit_facts_on_event_insert()",
    "DROP FUNCTION report_visit_facts_on_visit_delete()",
    "DROP FUNCTION report_visit_facts_on_visit_update()",
    "DROP FUNCTION report_visit_facts_on_visit_insert()",
    "DROP FUNCTION report_refresh_visit_facts(uuid[])",
)


def upgrade() -> None:
    """Apply this revision."""
    for sql in _FUNCTIONS:
        op.execute(sql)
    op.create_table(
        "report_opened_days",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "channel",
            postgresql.ENUM(name="work_order_channel", create_type=False),
            nullable=False,
        ),
        sa.Column(
            "status",
            postgresql.ENUM(name="work_order_status", create_type=False),
            nullable=False,
        ),
        sa.Column("reaction_bucket", sa.SmallInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_opened_days")),
    )
    op.create_index(op.f("ix_report_opened_days_day"), "report_opened_days", ["day"])
    op.create_table(
        "report_left_days",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_left_days")),
    )
    op.create_index(op.f("ix_report_left_days_day"), "report_left_days", ["day"])
    # First-time fix reads the month's resolved orders by when they were resolved.
    op.create_index(
        "ix_work_orders_resolved_at",
        "work_orders",
        ["resolved_at"],
        postgresql_where=sa.text("resolved_at IS NOT NULL"),
    )
    op.create_index("ix_work_order_ratings_created_at", "work_order_ratings", ["created_at"])
    # A month's completed work (contract usage, labour margin), by when it was done.
    op.create_index(
        "ix_visits_completed_at",
        "visits",
        ["completed_at"],
        postgresql_where=sa.text("status = 'completed'"),
    )
    # Maintenance compliance reads the periods ending in a month.
    op.create_index("ix_service_periods_ends_on", "service_periods", ["ends_on"])
    # Utilisation reads a team's events of some weeks by when they happened.
    op.create_index(
        "ix_visit_status_events_at",
        "visit_status_events",
        [sa.text("coalesce(device_at, occurred_at)")],
    )
    # First-time fix asks, per request, for the unit's next request within N days.
    op.drop_index("ix_work_orders_equipment_id", table_name="work_orders")
    op.create_index(
        "ix_work_orders_equipment_id_created_at", "work_orders", ["equipment_id", "created_at"]
    )
    # A rating carries its order's client, copied in on insert, so the satisfaction report
    # counts a month of ratings per client without reading the orders.
    op.add_column("work_order_ratings", sa.Column("client_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE work_order_ratings r SET client_id = w.client_id"
        " FROM work_orders w WHERE w.id = r.work_order_id"
    )
    op.alter_column("work_order_ratings", "client_id", nullable=False)
    op.create_foreign_key(
        op.f("fk_work_order_ratings_client_id_clients"),
        "work_order_ratings",
        "clients",
        ["client_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.execute(
        """
        CREATE FUNCTION work_order_rating_client() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            SELECT client_id INTO NEW.client_id FROM work_orders WHERE id = NEW.work_order_id;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER work_order_rating_client BEFORE INSERT OR UPDATE OF work_order_id
        ON work_order_ratings FOR EACH ROW EXECUTE FUNCTION work_order_rating_client()
        """
    )
    for kind, (referencing, sources) in _KINDS.items():
        op.execute(
            f"""
            CREATE FUNCTION report_rollups_on_{kind}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
            {_body(sources)}
                RETURN NULL;
            END
            $$
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER report_rollups_on_{kind} AFTER {kind.upper()} ON work_orders
            {referencing} FOR EACH STATEMENT EXECUTE FUNCTION report_rollups_on_{kind}()
            """
        )
    op.execute(
        """
        CREATE FUNCTION report_rollups_on_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE report_opened_days, report_left_days;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER report_rollups_on_truncate AFTER TRUNCATE ON work_orders
        FOR EACH STATEMENT EXECUTE FUNCTION report_rollups_on_truncate()
        """
    )
    op.create_table(
        "report_visit_facts",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("on_site_visits", sa.Integer(), nullable=False),
        sa.Column("engineer_id", sa.Uuid(), nullable=True),
        sa.Column("first_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_report_visit_facts_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_order_id", name=op.f("pk_report_visit_facts")),
    )
    for sql in _VISIT_FACTS:
        op.execute(sql)
    op.execute(
        "SELECT report_refresh_visit_facts(ARRAY(SELECT DISTINCT work_order_id FROM visits))"
    )
    # The orders already there, counted once.
    for statement in _body((("1", "work_orders"),)).split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    """Revert this revision."""
    for sql in _DROP_VISIT_FACTS:
        op.execute(sql)
    op.drop_table("report_visit_facts")
    for kind in (*_KINDS, "truncate"):
        op.execute(f"DROP TRIGGER report_rollups_on_{kind} ON work_orders")
        op.execute(f"DROP FUNCTION report_rollups_on_{kind}()")
    op.execute("DROP TRIGGER work_order_rating_client ON work_order_ratings")
    op.execute("DROP FUNCTION work_order_rating_client()")
    op.drop_column("work_order_ratings", "client_id")
    op.drop_index("ix_visit_status_events_at", table_name="visit_status_events")
    op.drop_index("ix_service_periods_ends_on", table_name="service_periods")
    op.drop_index("ix_visits_completed_at", table_name="visits")
    op.drop_index("ix_work_orders_equipment_id_created_at", table_name="work_orders")
    op.create_index("ix_work_orders_equipment_id", "work_orders", ["equipment_id"])
    op.drop_index("ix_work_order_ratings_created_at", table_name="work_order_ratings")
    op.drop_index("ix_work_orders_resolved_at", table_name="work_orders")
    op.drop_table("report_left_days")
    op.drop_table("report_opened_days")
    op.execute("DROP FUNCTION report_reaction_bucket(timestamptz, timestamptz)")
    op.execute(
        "DROP FUNCTION report_left_at(work_order_status, timestamptz, timestamptz, timestamptz)"
    )
