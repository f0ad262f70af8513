"""FLEET_DRAMATIQ_PROMETHEUS adds Dramatiq's own Prometheus middleware to worker brokers."""

from __future__ import annotations

from fleet.settings import Settings
from fleet.worker.broker import build_broker


def _names(settings: Settings) -> list[str]:
    broker = build_broker(settings)  # the Redis client connects lazily: no server needed
    try:
        return [type(m).__name__ for m in broker.middleware]
    finally:
        broker.close()


def test_the_setting_turns_the_middleware_on() -> None:
    redis = "redis://127.0.0.1:1/0"
    assert "Prometheus" not in _names(Settings(redis_url=redis, _env_file=None))  # type: ignore[call-arg]
    assert "Prometheus" in _names(Settings(redis_url=redis, dramatiq_prometheus=True,  # type: ignore[call-arg]
                                           _env_file=None))
    # The in-memory broker of `fleet dev` has no exposition server to serve it.
    assert "Prometheus" not in _names(Settings(dramatiq_prometheus=True, _env_file=None))  # type: ignore[call-arg]
