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
        env_prefix="FLEET_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- where things live -------------------------------------------------
    database_url: str = "sqlite:///dev.sqlite"
    redis_url: str | None = None
    sqlite_busy_timeout_ms: int = Field(10_000, ge=5_000)
    queue_name: str = "fleet"

    # --- leases and heartbeats (SPEC §5, §8) --------------------------------
    lease_ttl_s: float = Field(60.0, gt=0)
    heartbeat_interval_s: float = Field(15.0, gt=0)
    liveness_key_ttl_s: float = Field(90.0, gt=0)
    runtime_flush_interval_s: float = Field(60.0, gt=0)
    stale_runtime_after_s: float = Field(150.0, gt=0)
    sweep_tick_s: float = Field(60.0, gt=0)
    reaper_batch_size: int = Field(100, gt=0)
    default_max_attempts: int = Field(3, ge=1)
    waiting_tool_timeout_s: float = Field(3600.0, gt=0)
    waiting_approval_timeout_s: float = Field(86_400.0, gt=0)
    shutdown_grace_s: float = Field(10.0, ge=0)  # wait for executions to stop at shutdown
    worker_threads: int = Field(8, ge=1)  # fleet dev's worker threads
    dev_poll_interval_s: float = Field(2.0, gt=0)  # fleet dev picks up runs queued elsewhere

    # --- runs and execution (SPEC §6) ---------------------------------------
    default_graph_timeout_s: float = Field(7200.0, gt=0)
    node_concurrency: int = Field(4, ge=1)
    event_data_cap_bytes: int = Field(16_384, ge=256)
    max_input_bytes: int = Field(1_048_576, ge=1024)

    # --- sweeps (SPEC §8) ---------------------------------------------------
    resend_after_s: float = Field(120.0, gt=0)
    queued_expiry_s: float = Field(7200.0, ge=0)  # 0 disables
    queued_expiry_batch: int = Field(500, gt=0)
    late_queued_after_s: float = Field(300.0, gt=0)
    late_lookback_s: float = Field(3600.0, gt=0)
    late_running_after_s: float = Field(86_400.0, gt=0)
    late_list_count: int = Field(5, gt=0)
    block_error_window_s: float = Field(86_400.0, gt=0)
    block_error_min_executions: int = Field(10, gt=0)
    block_error_rate_threshold: float = Field(0.5, gt=0, le=1)
    accuracy_lookback_days: int = Field(30, gt=0)
    accuracy_window_days: int = Field(21, gt=0)
    accuracy_min_runs: int = Field(10, gt=0)
    accuracy_min_day_runs: int = Field(3, gt=0)
    accuracy_drop_threshold: float = Field(0.10, gt=0, lt=1)
    runtime_gc_after_s: float = Field(7 * 86_400.0, gt=0)
    runtime_gc_batch: int = Field(100, gt=0)
    retention_days: int = Field(30, gt=0)
    retention_batch: int = Field(1000, gt=0)
    # sweep batch sizes and per-tick bounds (issue 6)
    stale_runtime_batch: int = Field(100, gt=0)
    resend_batch: int = Field(500, gt=0)
    backstop_batch: int = Field(500, gt=0)
    waiting_timeout_batch: int = Field(500, gt=0)
    sweep_max_batches: int = Field(20, gt=0)
    block_error_samples: int = Field(3, ge=0)
    block_error_top: int = Field(3, gt=0)

    # --- cadences: five-field cron specs in UTC for the system jobs ---------
    cron_dispatch: str = "* * * * *"
    cron_reaper: str = "* * * * *"
    cron_stale_runtimes: str = "* * * * *"
    cron_resend: str = "* * * * *"
    cron_queued_expiry: str = "*/10 * * * *"
    cron_running_backstop: str = "*/10 * * * *"
    cron_waiting_timeouts: str = "* * * * *"
    cron_late_executions: str = "*/5 * * * *"
    cron_block_errors: str = "0 8 * * *"
    cron_accuracy: str = "30 8 * * *"
    cron_weekly_summary: str = "0 9 * * 1"
    cron_runtime_gc: str = "0 3 * * *"
    cron_retention: str = "30 3 * * *"

    # --- schedules (SPEC §7) ------------------------------------------------
    dispatch_batch_size: int = Field(500, gt=0)
    default_catchup_window_s: float = Field(3600.0, ge=0)
    max_schedule_catchup_fires: int = Field(100, gt=0)
    # A fire at most this late counts as on time (the dispatcher ticks every
    # minute), so catch-up "skip" does not drop ordinary tick-late fires.
    schedule_misfire_grace_s: float = Field(120.0, ge=0)

    # --- alerts (SPEC §8) ---------------------------------------------------
    alert_urls_ops: list[str] = Field(default_factory=list)
    alert_urls_product: list[str] = Field(default_factory=list)
    alert_reminder_s: float = Field(3600.0, gt=0)
    alert_retry_s: float = Field(30.0, gt=0)  # a failed delivery is retried after this
    alert_claim_s: float = Field(60.0, gt=0)  # a claimed delivery that never reported
    alert_timeout_s: float = Field(10.0, gt=0)  # per-delivery network timeout
    sentry_dsn: str | None = None

    # --- web (SPEC §12) -----------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    web_read_only: bool = False

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
