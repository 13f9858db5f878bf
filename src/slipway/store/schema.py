"""The store's tables, in SQLAlchemy Core.

This module is the source of truth the migrations are checked against (a test
compares it with the migrated database on SQLite and PostgreSQL), so any
change here needs a new file in `migrations/versions/`. Only portable types are
used: the same schema must run unchanged on SQLite and PostgreSQL.

Timestamps are `Double` seconds since the epoch, like every time in the domain
(`Clock.now()`), so nothing converts between float and datetime on the way in
or out.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)

from slipway.core.deliveries import ERROR_MAX, TITLE_MAX
from slipway.core.record_bounds import (
    API_MAX_CHARS,
    CATEGORY_MAX_CHARS,
    REQUEST_ID_MAX_CHARS,
    SLOT_NAME_MAX_CHARS,
    STICKY_KEY_MAX_CHARS,
    VERSION_MAX_CHARS,
)
from slipway.core.replicas import (
    LEADER_HOLDER_MAX_CHARS,
    REPLICA_HOST_MAX_CHARS,
    REPLICA_ID_MAX_CHARS,
    REPLICA_URL_MAX_CHARS,
)

#: Named constraints, so later migrations can alter them by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: The one current route table; a single row with id = ROUTE_TABLE_ROW_ID.
route_table = Table(
    "route_table",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("active", String(200), nullable=False),
    Column("previous_active", String(200), nullable=True),
    Column("name", String(200), nullable=True),
    Column("weights", JSON, nullable=False),
    Column("slots", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
    # Shadow mode (migration 0004): the slot every routed request is also copied to, and how many.
    Column("mirror", String(200), nullable=True),
    Column("mirror_bp", Integer, nullable=False, server_default=text("0")),
    Column("mirror_run", String(200), nullable=True),
    #: A rollback drill's pinned route (migration 0007): requests carrying the drill's id go to
    #: its slot; null when no drill runs.
    Column("drill", JSON, nullable=True),
)

ROUTE_TABLE_ROW_ID = 1

route_changes = Table(
    "route_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False, unique=True),
    Column("at", Double, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_active", String(200), nullable=True),
    Column("to_active", String(200), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("from_weights", JSON, nullable=False),
    Column("to_weights", JSON, nullable=False),
)

#: A request that did not complete: an error status, an error recorded, or aborted.
UNFINISHED_SQL = "status >= 400 OR error IS NOT NULL OR aborted"

#: One row per `RequestRecord`; column names equal the dataclass field names, and text columns
#: are as long as `core.record_bounds` says the field may be (a test holds the two together).
requests = Table(
    "requests",
    metadata,
    Column("request_id", String(REQUEST_ID_MAX_CHARS), primary_key=True),
    Column("started_at", Double, nullable=False),
    Column("slot", String(SLOT_NAME_MAX_CHARS), nullable=False),
    Column("version", String(VERSION_MAX_CHARS), nullable=False),
    Column("api", String(API_MAX_CHARS), nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("route_version", Integer, nullable=False),
    Column("category", String(CATEGORY_MAX_CHARS), nullable=True),
    Column("sticky_key", String(STICKY_KEY_MAX_CHARS), nullable=True),
    Column("status", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("latency_ms", Double, nullable=False),
    Column("ttft_ms", Double, nullable=True),
    Column("output_chars", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=True),
    Column("output_head", Text, nullable=False),
    Column("aborted", Boolean, nullable=False),
    # Migration 0008: requests a client pinned to a slot; no judgment counts them.
    Column("pinned", Boolean, nullable=False, server_default=false()),
    Index("ix_requests_started_at", "started_at"),
    # Both windowed indexes end with `pinned`, so leaving pinned requests out keeps counts index-only.
    Index("ix_requests_slot_started_at", "slot", "started_at", "pinned"),
    Index("ix_requests_category", "category"),
    # Canary checks (migration 0003): per-category counts from the index alone, and the few
    # unfinished requests (errors, aborts) without reading the rest.
    Index("ix_requests_slot_category_started_at", "slot", "category", "started_at", "stream", "pinned"),
    Index(
        "ix_requests_unfinished_slot_started_at",
        "slot",
        "started_at",
        sqlite_where=text(UNFINISHED_SQL),
        postgresql_where=text(UNFINISHED_SQL),
    ),
)

#: Feedback is append-only: labels are corrected by sending newer feedback, and the
#: latest row (by `at`, then insertion order) wins when read.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        String(200),
        ForeignKey("requests.request_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", Double, nullable=False),
    Column("satisfied", Boolean, nullable=True),
    Column("label", Text, nullable=True),
    Column("score", Double, nullable=True),
    Index("ix_feedback_request_id_at", "request_id", "at"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("version", String(400), nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("slot", String(200), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("previous_slot", String(200), nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_deployments_created_at", "created_at"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)

#: One row per canary; `state` is the rollout strategy's own JSON, `revision` guards concurrent writers.
canaries = Table(
    "canaries",
    metadata,
    Column("deployment_id", String(200), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("state", JSON, nullable=False),
    Index("ix_canaries_created_at", "created_at"),
)

#: A canary's timeline: every check with its verdict and metric table, phase changes, operator actions.
canary_events = Table(
    "canary_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "deployment_id",
        String(200),
        ForeignKey("canaries.deployment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", Double, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("phase", Integer, nullable=False),
    Column("weight_bp", Integer, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("verdict", JSON, nullable=True),
    Index("ix_canary_events_deployment_id_at", "deployment_id", "at"),
)

#: One row per shadow run: the run's state as JSON (`core.shadow.ShadowRun`), its status indexed.
shadows = Table(
    "shadows",
    metadata,
    Column("deployment_id", String(200), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("state", JSON, nullable=False),
    Index("ix_shadows_created_at", "created_at"),
)

#: Production's and the candidate's answers to one request (`core.shadow.ShadowPair`); `pair_id`
#: is the production request's id, which is how feedback labels reach a pair.
shadow_pairs = Table(
    "shadow_pairs",
    metadata,
    Column("pair_id", String(200), primary_key=True),
    Column("deployment_id", String(200), nullable=False),
    Column("at", Double, nullable=False),
    Column("api", String(64), nullable=False),
    Column("category", String(200), nullable=True),
    Column("stream", Boolean, nullable=False),
    Column("turns", Integer, nullable=False),
    Column("input_text", Text, nullable=False),
    Column("request", JSON, nullable=False),
    Column("production", JSON, nullable=False),
    Column("candidate", JSON, nullable=False),
    Index("ix_shadow_pairs_deployment_id_at", "deployment_id", "at"),
)

#: Who leads the replicas sharing this store (`core.replicas.Leadership`): a single row with
#: id = LEADERSHIP_ROW_ID, created by migration 0005. `epoch` goes up by one each time a replica
#: takes office; a leader's transitions check it in their own transaction (the fencing token).
leadership = Table(
    "leadership",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", Integer, nullable=False, server_default=text("0")),
    Column("holder", String(LEADER_HOLDER_MAX_CHARS), nullable=True),
    Column("since", Double, nullable=True),
)

LEADERSHIP_ROW_ID = 1

#: Every replica's last heartbeat (`core.replicas.ReplicaBeat`); the counters are 64-bit because
#: a long-lived replica can count more records than a 32-bit INTEGER holds.
replicas = Table(
    "replicas",
    metadata,
    Column("id", String(REPLICA_ID_MAX_CHARS), primary_key=True),
    Column("host", String(REPLICA_HOST_MAX_CHARS), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    Column("route_version", Integer, nullable=False),
    Column("records_queued", BigInteger, nullable=False),
    Column("records_dropped", BigInteger, nullable=False),
    Column("leader_epoch", Integer, nullable=True),
    Column("url", String(REPLICA_URL_MAX_CHARS), nullable=True),
    Index("ix_replicas_heartbeat_at", "heartbeat_at"),
)

#: What became of each notification at each sink (`core.deliveries.Delivery`), newest kept: the
#: repository prunes the oldest beyond `deliveries.KEEP` rows at each write.
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("sink", String(TITLE_MAX), nullable=False),
    Column("event", String(200), nullable=False),
    Column("title", String(TITLE_MAX), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", String(ERROR_MAX), nullable=True),
    Index("ix_notification_deliveries_at", "at"),
)

#: What a request asked (migration 0007), kept apart from `requests` so the rows every canary check
#: scans stay narrow: the flattened input text (bounded), the user turns, and the request body
#: itself when it is small enough to replay (null otherwise).
request_inputs = Table(
    "request_inputs",
    metadata,
    Column("request_id", String(REQUEST_ID_MAX_CHARS), primary_key=True),
    Column("input_text", Text, nullable=False),
    Column("turns", Integer, nullable=False),
    Column("request", JSON, nullable=True),
)

#: Evaluation suites, versioned: every change (an import, regression cases added) is a new row,
#: so a run names exactly the cases it judged.
eval_suites = Table(
    "eval_suites",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", Double, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("rule", JSON, nullable=False),
    Column("cases", JSON, nullable=False),
)

#: One run of a suite against a slot, optionally paired against another.
eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("at", Double, nullable=False),
    Column("suite", String(200), nullable=False),
    Column("suite_version", Integer, nullable=False),
    Column("slot", String(SLOT_NAME_MAX_CHARS), nullable=False),
    Column("slot_version", String(VERSION_MAX_CHARS), nullable=False),
    Column("against", String(SLOT_NAME_MAX_CHARS), nullable=True),
    Column("against_version", String(VERSION_MAX_CHARS), nullable=True),
    Column("deployment_id", String(200), nullable=True),
    Column("passed", Boolean, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("result", JSON, nullable=False),
    Index("ix_eval_runs_suite", "suite", "at"),
    Index("ix_eval_runs_slot_version", "slot_version", "at"),
)

#: A pre-deployment checklist: every item with its outcome, evidence and waiver.
checklists = Table(
    "checklists",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("at", Double, nullable=False),
    Column("version", String(VERSION_MAX_CHARS), nullable=False),
    Column("slot", String(SLOT_NAME_MAX_CHARS), nullable=False),
    Column("deployment_id", String(200), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("items", JSON, nullable=False),
    Index("ix_checklists_at", "at"),
)

#: Rollback drills: when, who, on which slot, and what was measured.
drills = Table(
    "drills",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("at", Double, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("slot", String(SLOT_NAME_MAX_CHARS), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("result", JSON, nullable=False),
    Index("ix_drills_at", "at"),
)
