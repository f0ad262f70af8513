"""The one settings object of fleet.

Built by each entry point (``Settings()`` reads ``FLEET_*`` variables and a
``.env`` file) and passed down; nothing in fleet reads the environment at
import time.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fleet.errors import ConfigError


class Settings(BaseSettings):
    """Every tunable number of fleet, with the defaults of the specification."""

    model_config = SettingsConfigDict(
        env_prefix="FLEET_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        use_attribute_docstrings=True,
    )

    # --- where things live -------------------------------------------------
    database_url: str = "sqlite:///dev.sqlite"
    """SQLAlchemy URL of the store: `sqlite:///FILE` or `postgresql://USER@HOST/DB`."""
    redis_url: str | None = None
    """Redis for the broker and liveness keys; unset means the in-memory broker (dev only)."""
    sqlite_busy_timeout_ms: int = Field(10_000, ge=5_000)
    """How long a SQLite writer waits for the lock (at least 5 s)."""
    user: str = Field("local", min_length=1, max_length=128)
    """The acting user of `fleet` commands when `--user` is not given."""
    queue_name: str = "fleet"
    """Dramatiq queue of `execute_graph` messages (the `worker` line of the Procfile)."""
    urgent_queue_name: str = "fleet-urgent"
    """Queue of runs taken back from a dead worker: workers take it before the run queue."""
    system_queue_name: str = "fleet-system"
    """Queue of the periodic system jobs, consumed by the `system` line of the Procfile only."""

    # --- leases and heartbeats (SPEC §5, §8) --------------------------------
    lease_ttl_s: float = Field(60.0, gt=0)
    """A claim or heartbeat holds a run for this long."""
    heartbeat_interval_s: float = Field(15.0, gt=0)
    """Each worker process extends all its leases (one UPDATE) this often."""
    liveness_key_ttl_s: float = Field(90.0, gt=0)
    """TTL of a runtime's Redis liveness key, renewed every heartbeat."""
    runtime_flush_interval_s: float = Field(60.0, gt=0)
    """How often a runtime writes `last_seen_at` when Redis is configured."""
    stale_runtime_after_s: float = Field(150.0, gt=0)
    """An online runtime unseen this long (and without a live key) goes offline."""
    reaper_batch_size: int = Field(100, gt=0)
    """Runs the reaper examines per batch."""
    default_max_attempts: int = Field(3, ge=1)
    """Attempts of a run when its graph says nothing."""
    waiting_tool_timeout_s: float = Field(3600.0, gt=0)
    """A run waiting for a tool result longer than this fails."""
    waiting_approval_timeout_s: float = Field(86_400.0, gt=0)
    """A run waiting for approval longer than this times out."""
    db_outage_budget_s: float = Field(60.0, gt=0)
    """A database outage up to this long costs time only: claims and checkpoints keep
    retrying, and a message is left for redelivery rather than dropped."""
    broker_heartbeat_timeout_s: float = Field(90.0, gt=0)
    """A Redis consumer silent this long is dead: Dramatiq requeues what it had fetched (at
    the end of the queue; fleet's reaper sends those runs ahead of it before that)."""
    periodic_skip_after_s: float = Field(30.0, gt=0)
    """A periodic job message older than this is skipped (WARNING, counted); never dispatch."""
    scheduler_silence_s: float = Field(180.0, gt=0)
    """Workers raise an ops alert when no dispatcher run started for this long."""
    shutdown_grace_s: float = Field(10.0, ge=0)
    """At graceful shutdown, wait this long for executions to stop before releasing."""
    worker_threads: int = Field(8, ge=1)
    """Run threads of `fleet dev`."""
    system_threads: int = Field(2, ge=1)
    """System-job threads of `fleet dev` (the Procfile's `system` line sets its own)."""
    dev_poll_interval_s: float = Field(2.0, gt=0)
    """`fleet dev` sends runs queued by other processes this often."""

    # --- runs and execution (SPEC §6) ---------------------------------------
    default_graph_timeout_s: float = Field(7200.0, gt=0)
    """Run timeout when the graph gives no `timeout_s`."""
    group_commit_ms: float = Field(2.0, ge=0)
    """Checkpoints and finishes of one worker process arriving this close together are
    committed in one transaction (0: each on its own)."""
    log_run_starts: bool = False
    """Log a line when a worker starts a run, beside the one at its end (INFO, logger
    `fleet.activity`). Off by default: one line per run; `fleet dev` turns it on."""
    node_concurrency: int = Field(4, ge=1)
    """Nodes of one run executing at once."""
    event_data_cap_bytes: int = Field(16_384, ge=256)
    """Data kept per run event; larger values are truncated."""
    max_input_bytes: int = Field(1_048_576, ge=1024)
    """Largest accepted run input (JSON-encoded)."""

    # --- sweeps (SPEC §8) ---------------------------------------------------
    resend_after_s: float = Field(120.0, gt=0)
    """A queued run sent and not claimed this long is sent again (then after 2x, 4x... 16x)."""
    resend_unsent_after_s: float = Field(10.0, gt=0)
    """A queued run never sent (broker down at submission) is sent after this long."""
    queued_expiry_s: float = Field(7200.0, ge=0)
    """A run queued longer than this fails with `E-RUN-008` (0 disables)."""
    queued_expiry_batch: int = Field(500, gt=0)
    """Runs expired per tick at most."""
    late_queued_after_s: float = Field(300.0, gt=0)
    """A queued run older than this is late."""
    late_lookback_s: float = Field(3600.0, gt=0)
    """Late queued runs are looked for within this window."""
    late_running_after_s: float = Field(86_400.0, gt=0)
    """A running run older than this is late."""
    late_list_count: int = Field(5, gt=0)
    """Oldest late runs listed in the alert."""
    block_error_window_s: float = Field(86_400.0, gt=0)
    """Window of the block error-rate monitor."""
    block_error_min_executions: int = Field(10, gt=0)
    """Executions a block needs in the window to be judged."""
    block_error_rate_threshold: float = Field(0.5, gt=0, le=1)
    """Error rate at or above which a block alerts."""
    accuracy_lookback_days: int = Field(30, gt=0)
    """Runs counted to decide whether a graph is judged."""
    accuracy_window_days: int = Field(21, gt=0)
    """Days of daily success rates the accuracy monitor computes."""
    accuracy_min_runs: int = Field(10, gt=0)
    """Finished runs a graph needs in the lookback to be judged."""
    accuracy_min_day_runs: int = Field(3, gt=0)
    """Finished runs a day needs to count."""
    accuracy_drop_threshold: float = Field(0.10, gt=0, lt=1)
    """Alert when the 3-day average falls this fraction below the 7-day one."""
    runtime_gc_after_s: float = Field(7 * 86_400.0, gt=0)
    """Offline runtimes older than this are deleted."""
    runtime_gc_batch: int = Field(100, gt=0)
    """Runtimes deleted per batch."""
    retention_days: int = Field(30, gt=0)
    """Finished runs (with their node runs and events) and resolved alerts older than this
    are pruned."""
    event_retention_days: float = Field(30, gt=0)
    """Run events older than this are pruned, whatever their run's state."""
    fire_retention_days: float = Field(30, gt=0)
    """Schedule fire records (fired, missed, skipped, failed) older than this are pruned."""
    retention_batch: int = Field(1000, gt=0)
    """Rows pruned per batch (one committed transaction each)."""
    retention_budget_s: float = Field(300.0, gt=0)
    """Seconds one retention pass may spend; what is left waits for the next tick."""
    # sweep batch sizes and per-tick bounds (issue 6)
    stale_runtime_batch: int = Field(100, gt=0)
    """Stale runtimes handled per batch."""
    resend_batch: int = Field(500, gt=0)
    """Runs re-sent per tick at most."""
    backstop_batch: int = Field(500, gt=0)
    """Runs the running backstop handles per tick."""
    waiting_timeout_batch: int = Field(500, gt=0)
    """Waiting runs timed out per batch."""
    sweep_max_batches: int = Field(20, gt=0)
    """Batches a sweep runs per tick at most."""
    block_error_samples: int = Field(3, ge=0)
    """Masked sample errors per alerting block."""
    block_error_top: int = Field(3, gt=0)
    """Blocks in the daily error summary."""

    # --- cadences: five-field cron specs in UTC for the system jobs ---------
    cron_dispatch: str = "* * * * *"
    """When the `dispatch` system job runs (cron, UTC)."""
    cron_reaper: str = "* * * * *"
    """When the `reaper` system job runs (cron, UTC)."""
    cron_stale_runtimes: str = "* * * * *"
    """When the `stale_runtimes` system job runs (cron, UTC)."""
    cron_resend: str = "* * * * *"
    """When the `resend` system job runs (cron, UTC)."""
    cron_queued_expiry: str = "*/10 * * * *"
    """When the `queued_expiry` system job runs (cron, UTC)."""
    cron_running_backstop: str = "*/10 * * * *"
    """When the `running_backstop` system job runs (cron, UTC)."""
    cron_waiting_timeouts: str = "* * * * *"
    """When the `waiting_timeouts` system job runs (cron, UTC)."""
    cron_late_executions: str = "*/5 * * * *"
    """When the `late_executions` system job runs (cron, UTC)."""
    cron_block_errors: str = "0 8 * * *"
    """When the `block_errors` system job runs (cron, UTC)."""
    cron_accuracy: str = "30 8 * * *"
    """When the `accuracy` system job runs (cron, UTC)."""
    cron_weekly_summary: str = "0 9 * * 1"
    """When the `weekly_summary` system job runs (cron, UTC)."""
    cron_runtime_gc: str = "0 3 * * *"
    """When the `runtime_gc` system job runs (cron, UTC)."""
    cron_retention: str = "15 * * * *"
    """When the `retention` system job runs (cron, UTC)."""
    cron_alert_delivery: str = "* * * * *"
    """When the `alert_delivery` system job runs (cron, UTC)."""
    cron_expired_files: str = "0 */6 * * *"
    """When the `expired_files` system job runs (cron, UTC): artifacts past `expires_at`."""
    cron_expired_tokens: str = "10 */6 * * *"
    """When the `expired_tokens` system job runs (cron, UTC): expired credentials and tokens."""
    cron_search_coverage: str = "20 */6 * * *"
    """When the `search_coverage` system job runs (cron, UTC); it also runs once at start-up."""

    # --- schedules (SPEC §7) ------------------------------------------------
    dispatch_batch_size: int = Field(2000, gt=0)
    """Due schedules taken per dispatcher batch."""
    dispatch_parallel: int = Field(2, ge=1, le=16)
    """Batches one dispatcher pass works on at once on PostgreSQL (each takes its own
    schedules, `SKIP LOCKED`); SQLite takes one at a time."""
    default_catchup_window_s: float = Field(3600.0, ge=0)
    """Missed fires older than this (scheduler down) are recorded as missed."""
    max_schedule_catchup_fires: int = Field(100, gt=0)
    """Fires one schedule may catch up in one tick (policy `all`)."""
    schedule_misfire_grace_s: float = Field(120.0, ge=0)
    """A fire at most this late counts as on time (the dispatcher ticks every minute)."""

    # --- alerts (SPEC §8) ---------------------------------------------------
    alert_urls_ops: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Apprise URLs for `ops` alerts: one URL, several separated by commas, or a JSON list,
    e.g. `discord://id/token` or `["discord://id/token", "mailto://ops@example.com"]`."""
    alert_urls_product: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Apprise URLs for `product` alerts (the same forms as `FLEET_ALERT_URLS_OPS`)."""
    alert_reminder_s: float = Field(3600.0, gt=0)
    """A still-firing incident is re-sent at most this often."""
    alert_retry_s: float = Field(30.0, gt=0)
    """A destination that failed is retried after this, then twice as long each time."""
    alert_retry_max_s: float = Field(3600.0, gt=0)
    """The longest wait between two tries of one destination."""
    alert_give_up_s: float = Field(86_400.0, gt=0)
    """A destination still failing this long after the notification is given up (logged)."""
    alert_claim_s: float = Field(60.0, gt=0)
    """A delivery claimed by a process that never reported is retried after this."""
    alert_timeout_s: float = Field(10.0, gt=0)
    """Network timeout of one delivery."""
    sentry_dsn: str | None = None
    """Sentry DSN; errors are captured only when set (needs the `sentry` extra)."""

    # --- credentials (SPEC §13) ---------------------------------------------
    secret_key: SecretStr | None = None
    """Fernet keys that encrypt credentials, comma-separated: the first encrypts, every one
    decrypts (rotation: put the new key first, run `fleet credentials rotate-key`, then drop
    the old one). Make one with `fleet credentials generate-key`."""
    credential_rotate_batch: int = Field(100, gt=0)
    """Credentials re-encrypted per transaction by `fleet credentials rotate-key`."""
    oauth_refresh_skew_s: float = Field(60.0, ge=0)
    """An OAuth2 access token expiring within this many seconds is refreshed before use."""
    oauth_timeout_s: float = Field(10.0, gt=0)
    """Network timeout of one call to an OAuth2 provider's token URL."""
    token_expiry_batch: int = Field(100, gt=0)
    """Expired credentials (and API tokens) deleted per transaction by `expired_tokens`."""

    # --- artifacts (SPEC §13) -----------------------------------------------
    artifacts_url: str = "artifacts"
    """Where artifact files live: a local directory (relative to the working directory) or
    any fsspec URL (`s3://bucket/prefix`, `gcs://...`, `memory://...`)."""
    artifact_expiry_default_s: float = Field(48 * 3600.0, gt=0)
    """Expiry of an upload or a block-written file when none is asked for (48 h)."""
    artifact_expiry_min_s: float = Field(3600.0, gt=0)
    """Shortest expiry an upload may ask for (1 h)."""
    artifact_expiry_max_s: float = Field(48 * 3600.0, gt=0)
    """Longest expiry an upload may ask for (48 h); system artifacts never expire."""
    artifact_max_bytes: int = Field(100 * 1024 * 1024, gt=0)
    """Largest artifact accepted (bytes)."""
    artifact_cleanup_page: int = Field(100, gt=0)
    """Expired artifacts listed per page by `expired_files`."""
    artifact_cleanup_parallel: int = Field(4, gt=0)
    """Storage deletions `expired_files` runs at once."""
    artifact_cleanup_claim_s: float = Field(600.0, gt=0)
    """How long a cleanup holds the artifacts it is deleting (another cleanup skips them)."""

    # --- search (SPEC §13) --------------------------------------------------
    search_batch_size: int = Field(100, gt=0)
    """Entries the coverage job writes per batch."""
    search_docs_dir: str | None = None
    """Directory of the documentation pages indexed as `doc` entries; unset means the
    project's own `docs/`."""
    search_recency_weight: float = Field(0.25, ge=0)
    """How much recency adds to a hit's full-text rank (0 turns recency off)."""
    search_recency_half_life_days: float = Field(30.0, gt=0)
    """Age at which a hit's recency bonus has halved."""
    search_candidates: int = Field(200, gt=0)
    """Best full-text matches re-ranked with recency per query."""
    # --- web: API, dashboard, metrics (SPEC §12) ------------------------------
    web_host: str = "127.0.0.1"
    """Address `fleet web` listens on (`0.0.0.0` behind a reverse proxy in a container)."""
    web_port: int = Field(8080, ge=1, le=65535)
    """Port `fleet web` listens on."""
    web_forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose `X-Forwarded-For`/`-Proto` headers `fleet web` trusts (comma-separated,
    `*` for any): the address of your reverse proxy."""
    web_read_only: bool = False
    """Refuse every action (submit, cancel, pause, batch, ...) through the API and dashboard."""
    web_session_secret: str | None = None
    """Key that signs dashboard session cookies; unset: a random key per process (sign-ins
    do not survive a restart nor span several web processes)."""
    web_session_max_age_s: float = Field(43_200.0, gt=0)
    """A dashboard sign-in lasts this long (and never longer than its token)."""
    web_cookie_secure: bool = False
    """Mark the session cookie `Secure` even when the request looks like plain HTTP (set it
    behind a TLS-terminating proxy that does not forward the scheme)."""
    web_snapshot_ttl_s: float = Field(5.0, gt=0)
    """The overview and `/metrics` read one shared snapshot, refreshed at most this often."""
    web_metrics_settle_s: float = Field(30.0, ge=0)
    """Counters of `/metrics` count rows older than this, so a row committed late is not
    missed."""
    web_metrics_public: bool = True
    """Serve `/metrics` without a token (restrict it at the proxy); false requires an admin
    token."""
    web_dag_max_nodes: int = Field(150, ge=1)
    """A graph with more nodes is shown as a list instead of a drawing."""
    web_gantt_max_rows: int = Field(400, ge=1)
    """A timeline with more node executions is shown as a table instead of a drawing."""
    web_batch_size: int = Field(500, gt=0, le=5000)
    """Runs one batch operation handles per committed transaction."""
    web_token_default_expiry_days: float = Field(90.0, ge=0)
    """`fleet tokens create` without `--expires` expires after this many days (0: never)."""
    dramatiq_prometheus: bool = False
    """Add Dramatiq's own Prometheus middleware to workers (metrics on port 9191,
    `dramatiq_prom_port`)."""

    @field_validator("alert_urls_ops", "alert_urls_product", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        return url_list(value)

    @model_validator(mode="after")
    def _check_invariants(self) -> Settings:
        check_invariants(self)
        return self


def url_list(value: Any) -> Any:
    """A list of URLs from a JSON list, or from one URL or several separated by commas.

    Apprise URLs hold no bare comma in practice (a comma inside one is written ``%2C``).
    Anything that is not a string is left to the field's own validation.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"looks like a JSON list but is not valid JSON ({exc.msg}); "
                             'write ["scheme://...", "scheme://..."] or URLs separated by '
                             "commas") from None
        return loaded
    return [part.strip() for part in text.split(",") if part.strip()]


def check_invariants(s: Settings) -> None:
    """Refuse configurations under which live workers would be declared dead.

    The part that depends on the stale-runtime job's cadence (a cron spec) is
    :func:`fleet.sweeps.registry.check_cadences`, run where the jobs are declared.
    """
    problems: list[str] = []
    if s.runtime_flush_interval_s + s.heartbeat_interval_s >= s.stale_runtime_after_s:
        problems.append(
            f"runtime_flush_interval_s ({s.runtime_flush_interval_s:g}) + heartbeat_interval_s "
            f"({s.heartbeat_interval_s:g}) must be below stale_runtime_after_s "
            f"({s.stale_runtime_after_s:g}), or live runtimes look stale between two flushes"
        )
    if s.heartbeat_interval_s >= s.lease_ttl_s:
        problems.append(
            f"heartbeat_interval_s ({s.heartbeat_interval_s:g}) must be below lease_ttl_s "
            f"({s.lease_ttl_s:g}), or leases expire between two heartbeats"
        )
    if s.heartbeat_interval_s >= s.liveness_key_ttl_s:
        problems.append(
            f"heartbeat_interval_s ({s.heartbeat_interval_s:g}) must be below liveness_key_ttl_s "
            f"({s.liveness_key_ttl_s:g})"
        )
    if not (s.artifact_expiry_min_s <= s.artifact_expiry_default_s
            <= s.artifact_expiry_max_s):
        problems.append(
            f"artifact_expiry_default_s ({s.artifact_expiry_default_s:g}) must lie between "
            f"artifact_expiry_min_s ({s.artifact_expiry_min_s:g}) and artifact_expiry_max_s "
            f"({s.artifact_expiry_max_s:g})")
    if problems:
        raise ConfigError(
            "inconsistent fleet configuration: " + "; ".join(problems)
            + ". Change the FLEET_* settings named above."
        )


_SECRET_FIELDS = frozenset({"secret_key", "database_url", "redis_url", "sentry_dsn",
                            "alert_urls_ops", "alert_urls_product"})


def _example(name: str) -> str:
    field = Settings.model_fields.get(name)
    if field is None:
        return ""
    default = field.get_default(call_default_factory=True)
    if default is None or default == [] or name in {"secret_key"}:
        return ""
    return f"e.g. {default}" if not isinstance(default, list) else ""


def settings_problem(exc: Exception) -> ConfigError:
    """A ConfigError naming each ``FLEET_*`` variable that failed to parse, what it expects,
    and an example (its default); values that may hold secrets are not repeated."""
    if isinstance(exc, ConfigError):
        return exc
    errors = getattr(exc, "errors", None)
    problems: list[str] = []
    if callable(errors):
        for err in errors():
            loc = err.get("loc") or ()
            name = str(loc[0]) if loc else ""
            if not name:
                problems.append(str(err.get("msg", "")))
                continue
            field = Settings.model_fields.get(name)
            meaning = " ".join((field.description or "").split()).rstrip(".") if field else ""
            shown = "" if name in _SECRET_FIELDS else f" = {err.get('input')!r}"
            example = _example(name)
            problems.append(
                f"FLEET_{name.upper()}{shown}: {err.get('msg', 'invalid')}"
                + (f" ({example})" if example else "")
                + (f"; it sets: {meaning}" if meaning else ""))
    else:  # pydantic-settings' SettingsError: a value it could not decode
        text = str(exc)
        bad = text.split('"')[1] if text.count('"') >= 2 else ""
        problems.append(f"FLEET_{bad.upper()} could not be decoded ({text})" if bad else text)
    return ConfigError("invalid settings: " + "; ".join(problems)
                       + ". Fix the FLEET_* environment variable(s) (or .env) named above.")
