"""The one settings object of fleet.

Built by each entry point (``Settings()`` reads ``FLEET_*`` variables and a
``.env`` file) and passed down; nothing in fleet reads the environment at
import time.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    """Dramatiq queue of `execute_graph` messages."""

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
    sweep_tick_s: float = Field(60.0, gt=0)
    """Cadence assumed for the every-minute sweeps in the start-up invariant."""
    reaper_batch_size: int = Field(100, gt=0)
    """Runs the reaper examines per batch."""
    default_max_attempts: int = Field(3, ge=1)
    """Attempts of a run when its graph says nothing."""
    waiting_tool_timeout_s: float = Field(3600.0, gt=0)
    """A run waiting for a tool result longer than this fails."""
    waiting_approval_timeout_s: float = Field(86_400.0, gt=0)
    """A run waiting for approval longer than this times out."""
    shutdown_grace_s: float = Field(10.0, ge=0)
    """At graceful shutdown, wait this long for executions to stop before releasing."""
    worker_threads: int = Field(8, ge=1)
    """Worker threads of `fleet dev`."""
    dev_poll_interval_s: float = Field(2.0, gt=0)
    """`fleet dev` sends runs queued by other processes this often."""

    # --- runs and execution (SPEC §6) ---------------------------------------
    default_graph_timeout_s: float = Field(7200.0, gt=0)
    """Run timeout when the graph gives no `timeout_s`."""
    node_concurrency: int = Field(4, ge=1)
    """Nodes of one run executing at once."""
    event_data_cap_bytes: int = Field(16_384, ge=256)
    """Data kept per run event; larger values are truncated."""
    max_input_bytes: int = Field(1_048_576, ge=1024)
    """Largest accepted run input (JSON-encoded)."""

    # --- sweeps (SPEC §8) ---------------------------------------------------
    resend_after_s: float = Field(120.0, gt=0)
    """A queued run unclaimed and unsent this long is sent again."""
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

    # --- schedules (SPEC §7) ------------------------------------------------
    dispatch_batch_size: int = Field(500, gt=0)
    """Due schedules taken per dispatcher batch."""
    default_catchup_window_s: float = Field(3600.0, ge=0)
    """Missed fires older than this (scheduler down) are recorded as missed."""
    max_schedule_catchup_fires: int = Field(100, gt=0)
    """Fires one schedule may catch up in one tick (policy `all`)."""
    schedule_misfire_grace_s: float = Field(120.0, ge=0)
    """A fire at most this late counts as on time (the dispatcher ticks every minute)."""

    # --- alerts (SPEC §8) ---------------------------------------------------
    alert_urls_ops: list[str] = Field(default_factory=list)
    """Apprise URLs for `ops` alerts (JSON list), e.g. `["discord://id/token"]`."""
    alert_urls_product: list[str] = Field(default_factory=list)
    """Apprise URLs for `product` alerts (JSON list)."""
    alert_reminder_s: float = Field(3600.0, gt=0)
    """A still-firing incident is re-sent at most this often."""
    alert_retry_s: float = Field(30.0, gt=0)
    """A failed delivery is retried after this."""
    alert_claim_s: float = Field(60.0, gt=0)
    """A delivery claimed by a process that never reported is retried after this."""
    alert_timeout_s: float = Field(10.0, gt=0)
    """Network timeout of one delivery."""
    sentry_dsn: str | None = None
    """Sentry DSN; errors are captured only when set (needs the `sentry` extra)."""

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


    @model_validator(mode="after")
    def _check_invariants(self) -> Settings:
        check_invariants(self)
        return self


def check_invariants(s: Settings) -> None:
    """Refuse configurations under which live workers would be declared dead.

    SPEC §8: flush + beat + sweep tick must stay under the stale threshold plus
    one tick, otherwise a healthy runtime can look stale between two flushes.
    """
    problems: list[str] = []
    budget = s.runtime_flush_interval_s + s.heartbeat_interval_s + s.sweep_tick_s
    if budget >= s.stale_runtime_after_s + s.sweep_tick_s:
        problems.append(
            f"runtime_flush_interval_s ({s.runtime_flush_interval_s:g}) + heartbeat_interval_s "
            f"({s.heartbeat_interval_s:g}) + sweep_tick_s ({s.sweep_tick_s:g}) = {budget:g} "
            f"must be below stale_runtime_after_s ({s.stale_runtime_after_s:g}) + sweep_tick_s"
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
    if problems:
        raise ConfigError(
            "inconsistent fleet configuration: " + "; ".join(problems)
            + ". Change the FLEET_* settings named above."
        )
