"""Settings: defaults of the specification, the start-up invariant, the README table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleet.errors import ConfigError
from fleet.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def make(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[arg-type]


def test_spec_defaults() -> None:
    s = make()
    assert (s.lease_ttl_s, s.heartbeat_interval_s, s.liveness_key_ttl_s) == (60, 15, 90)
    assert (s.runtime_flush_interval_s, s.stale_runtime_after_s) == (60, 150)
    assert (s.cron_stale_runtimes, s.cron_reaper, s.cron_resend) == ('* * * * *',) * 3
    assert (s.resend_after_s, s.queued_expiry_s, s.queued_expiry_batch) == (120, 7200, 500)
    assert s.database_url == "sqlite:///dev.sqlite" and s.redis_url is None


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_LEASE_TTL_S", "30")
    monkeypatch.setenv("FLEET_REDIS_URL", "redis://example:6379/0")
    s = make()
    assert s.lease_ttl_s == 30 and s.redis_url == "redis://example:6379/0"


def test_invariant_refuses_inconsistent_heartbeat() -> None:
    with pytest.raises(ConfigError) as err:
        make(runtime_flush_interval_s=120, stale_runtime_after_s=100)
    assert "stale_runtime_after_s" in str(err.value) and "FLEET_" in str(err.value)


def test_invariant_refuses_heartbeat_slower_than_lease() -> None:
    with pytest.raises(ConfigError, match="lease_ttl_s"):
        make(heartbeat_interval_s=30, lease_ttl_s=20)


def test_short_test_settings_are_consistent() -> None:
    make(lease_ttl_s=3, heartbeat_interval_s=1, liveness_key_ttl_s=5,
         runtime_flush_interval_s=1, stale_runtime_after_s=5)


def test_readme_configuration_table_is_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "settings_table.py"),
                             "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cadence_check_uses_the_configured_crons() -> None:
    from fleet.sweeps.registry import check_cadences, max_gap_s

    check_cadences(make())
    assert max_gap_s("*/10 * * * *") == 600 and max_gap_s("0 9 * * 1") == 7 * 86400
    with pytest.raises(ConfigError) as err:
        check_cadences(make(cron_stale_runtimes="*/5 * * * *"))  # 300 s > 150 s
    assert "FLEET_CRON_STALE_RUNTIMES fires only every 300s" in str(err.value)
    with pytest.raises(ConfigError, match="FLEET_CRON_RESEND"):
        check_cadences(make(cron_resend="*/5 * * * *"))
    check_cadences(make(cron_resend="*/5 * * * *", resend_after_s=300))
