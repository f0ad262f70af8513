"""/metrics: the SPEC §12 names, values read from the store, counters that every web
process reports alike and that count each row once."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from fleet.store.models import (
    AlertDelivery,
    NodeRun,
    Run,
    RunEvent,
    ScheduleFire,
    SystemJob,
)
from fleet.web.context import WebContext
from tests.integration.web.support import Web, make_web

SPEC_NAMES = {"fleet_runs_total", "fleet_queue_depth", "fleet_queue_lag_seconds",
              "fleet_schedule_to_start_seconds", "fleet_run_duration_seconds",
              "fleet_node_duration_seconds", "fleet_lease_expired_total",
              "fleet_schedule_fires_total", "fleet_alert_deliveries_total", "fleet_runtimes"}


def families(web: Web) -> set[str]:
    """The metric names /metrics declares (with or without samples yet)."""
    return {line.split()[2] for line in web.client.get("/metrics").text.splitlines()
            if line.startswith("# TYPE ")}


def scrape(web: Web) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    ctx = web.client.app.state.ctx  # type: ignore[attr-defined]
    assert isinstance(ctx, WebContext)
    ctx.snapshot.invalidate()
    r = web.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def _history(web: Web, at: datetime) -> None:
    """Rows of every source, all at ``at`` (the scheduled run r1 is the record of its fire)."""
    with web.session() as s:
        run = Run(id="r1", user_id="u", graph_id="g", graph_version=1, state="completed",
                  created_at=at, queued_at=at, scheduled_for=at - timedelta(seconds=3),
                  schedule_id="s1", started_at=at - timedelta(seconds=1), completed_at=at,
                  wall_time_s=0.7)
        s.add(run)
        s.add(Run(id="r2", user_id="u", graph_id="g", graph_version=1, state="queued",
                  created_at=at, queued_at=at - timedelta(seconds=90)))
        s.flush()
        s.add_all([
            RunEvent(run_id="r1", at=at, kind="transition", from_state=None, to_state="queued"),
            RunEvent(run_id="r1", at=at, kind="transition", from_state="queued",
                     to_state="running"),
            RunEvent(run_id="r1", at=at, kind="transition", from_state="running",
                     to_state="queued", detail="lease expired; requeued"),
            RunEvent(run_id="r1", at=at, kind="transition", from_state="running",
                     to_state="completed"),
            NodeRun(run_id="r1", node_id="n", block_id="template", exec_key="k", state="completed",
                    started_at=at, completed_at=at, wall_time_s=0.02),
            ScheduleFire(schedule_id="s1", scheduled_for=at - timedelta(minutes=1),
                         outcome="missed", at=at),
            AlertDelivery(alert_id="a", send_count=1, destination="d1", url="x://y",
                          state="sent", attempts=1, last_attempt_at=at, created_at=at),
            AlertDelivery(alert_id="a", send_count=1, destination="d2", url="x://z",
                          state="pending", attempts=1, last_attempt_at=at, created_at=at),
        ])
        s.commit()


def test_metric_names_and_counts_from_the_store(web: Web) -> None:
    first = scrape(web)  # the first refresh sets where counting starts
    assert families(web) >= SPEC_NAMES
    assert first[("fleet_runs_total", (("state", "completed"),))] == 0
    at = web.clock() + timedelta(seconds=10)
    _history(web, at)
    web.clock.advance(10 + web.settings.web_metrics_settle_s)
    m = scrape(web)
    assert m[("fleet_runs_total", (("state", "completed"),))] == 1
    assert m[("fleet_runs_total", (("state", "queued"),))] == 2
    assert m[("fleet_lease_expired_total", ())] == 1
    assert m[("fleet_schedule_fires_total", (("outcome", "fired"),))] == 1
    assert m[("fleet_schedule_fires_total", (("outcome", "missed"),))] == 1
    assert m[("fleet_schedule_fires_total", (("outcome", "skipped"),))] == 0
    assert m[("fleet_alert_deliveries_total", (("result", "sent"),))] == 1
    assert m[("fleet_alert_deliveries_total", (("result", "failed"),))] == 1
    assert m[("fleet_run_duration_seconds_count", ())] == 1
    assert m[("fleet_run_duration_seconds_bucket", (("le", "0.5"),))] == 0
    assert m[("fleet_run_duration_seconds_bucket", (("le", "1.0"),))] == 1
    assert m[("fleet_run_duration_seconds_sum", ())] == 0.7
    node = ("fleet_node_duration_seconds_bucket", (("block", "template"), ("le", "0.05")))
    assert m[node] == 1
    # scheduled 3 s before `at`, started 1 s before: 2 s late
    assert m[("fleet_schedule_to_start_seconds_bucket", (("le", "2.5"),))] == 1
    assert m[("fleet_schedule_to_start_seconds_bucket", (("le", "1.0"),))] == 0
    assert m[("fleet_queue_depth", (("queue", "fleet"),))] == 1
    assert m[("fleet_queue_lag_seconds", (("queue", "fleet"),))] == 90 + 30
    assert m[("fleet_runtimes", (("status", "online"),))] == 0
    # Scraped again, and by a second web process on the same store: nothing counted twice.
    web.clock.advance(60)
    assert scrape(web)[("fleet_runs_total", (("state", "queued"),))] == 2
    other = make_web(web.settings.database_url, web.clock())
    try:
        other.clock.advance(120)
        assert scrape(other)[("fleet_runs_total", (("state", "queued"),))] == 2
        assert scrape(other)[("fleet_schedule_fires_total", (("outcome", "fired"),))] == 1
    finally:
        other.client.close()
        other.engine.dispose()


def test_rows_that_arrive_later_are_counted_once_when_they_settle(web: Web) -> None:
    scrape(web)
    at = web.clock()
    web.clock.advance(5)  # inside the settle margin: not counted yet
    _history(web, at)
    assert scrape(web)[("fleet_schedule_fires_total", (("outcome", "fired"),))] == 0
    web.clock.advance(web.settings.web_metrics_settle_s)
    assert scrape(web)[("fleet_schedule_fires_total", (("outcome", "fired"),))] == 1
    web.clock.advance(web.settings.web_metrics_settle_s)
    assert scrape(web)[("fleet_schedule_fires_total", (("outcome", "fired"),))] == 1


def test_system_jobs_last_success_and_duration(web: Web) -> None:
    at = web.clock() - timedelta(minutes=2)
    with web.session() as s:
        s.add(SystemJob(name="dispatch", last_started_at=at, last_finished_at=at,
                        last_outcome="ok", last_duration_s=0.25, last_success_at=at,
                        runs_total=7, errors_total=1))
        s.commit()
    m = scrape(web)
    assert m[("fleet_system_job_last_success_timestamp_seconds", (("job", "dispatch"),))] == \
        at.timestamp()
    assert m[("fleet_system_job_last_duration_seconds", (("job", "dispatch"),))] == 0.25
    assert m[("fleet_system_job_runs_total", (("job", "dispatch"),))] == 7
    assert m[("fleet_system_job_errors_total", (("job", "dispatch"),))] == 1


def test_metrics_can_require_an_admin_token(db_url: str, now: datetime) -> None:
    w = make_web(db_url, now, web_metrics_public=False)
    try:
        assert w.client.get("/metrics").status_code == 401
        assert w.get("operator", "/metrics").status_code == 403
        assert w.get("admin", "/metrics").status_code == 200
    finally:
        w.client.close()
        w.engine.dispose()
