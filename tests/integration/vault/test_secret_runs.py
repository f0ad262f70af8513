"""A run whose HTTP block uses a credential: the server gets the secret, nothing else does.

The local server echoes the request's headers back, so the secret (and for
basic auth its base64 pair) comes back in the response body: the run's
outputs, events, tracker, node runs, logs and alerts must show ``***``.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session

from fleet.alerts.service import AlertService
from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import RUN_NODE_FAILED, RUN_UNUSABLE_RESOURCE
from fleet.ports import JobContext
from fleet.redact import active_secrets
from fleet.runs.inline import run_inline
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store import node_runs
from fleet.store import runs as run_store
from fleet.sweeps import block_errors
from fleet.testing import RecordingSender
from fleet.testing.alerts import RecordingChannel
from fleet.vault import service as vault
from fleet.vault.keys import generate_key
from tests.integration.vault.conftest import EchoServer

API_KEY = "sk_live_QwertySecretKeyZ"
PASSWORD = "CorrectHorseBatteryStaple"


def _graph(url: str) -> dict[str, Any]:
    return {"id": "call-api", "nodes": [
        {"id": "call", "block": "http_request", "inputs": {"url": url}},
        {"id": "basic", "block": "http_request", "inputs": {"url": url}},
        {"id": "leak", "block": "leaky"},
        {"id": "show", "block": "template", "inputs": {"template": "got {value}"}}],
        "links": [{"source": "call.body", "sink": "show.value"}]}


def _everything(open_session: Callable[[], Session], run_id: str) -> str:
    """Every stored trace of the run, as one text."""
    with open_session() as s:
        run = run_store.get(s, run_id)
        assert run is not None
        events = [(e.data, e.detail) for e in run_store.events(s, run_id)]
        nodes = [(n.inputs, n.outputs, n.error) for n in node_runs.for_run(s, run_id)]
        return json.dumps({"outputs": run.outputs, "error": run.error_detail,
                           "tracker": run.tracker, "events": events, "nodes": nodes},
                          default=str)


def _run(session: Session, open_session: Callable[[], Session], now: datetime,
         registry: BlockRegistry, settings: Settings, user: str,
         credentials: dict[str, str]) -> str:
    run = submit(session, graph_id="call-api", version=None, inputs={}, user_id=user, now=now,
                 send=RecordingSender(), registry=registry, settings=settings,
                 credentials=credentials)
    run_inline(open_session, run.id, registry=registry, settings=settings)
    return run.id


def test_the_server_gets_the_secret_and_the_run_shows_only_stars(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        open_session: Callable[[], Session], add_key: Callable[..., str],
        add_graph_of: Callable[..., Any], echo_server: EchoServer,
        caplog: pytest.LogCaptureFixture) -> None:
    key = add_key("alice", "api", API_KEY)
    pair = add_key("alice", "pair", PASSWORD, kind="basic", username="ann")
    add_graph_of("alice", _graph(echo_server.url))
    with caplog.at_level(logging.DEBUG):
        run_id = _run(session, open_session, now, registry, vault_settings, "alice",
                      {"call.credential": key, "basic.credential": pair, "leak.cred": key})
    basic_b64 = base64.b64encode(f"ann:{PASSWORD}".encode()).decode()
    received = sorted(r["Authorization"] for r in echo_server.requests)
    assert received == [f"Basic {basic_b64}", f"Bearer {API_KEY}"]
    with open_session() as s:
        run = run_store.get(s, run_id)
        assert run is not None and run.state == "completed", run.error_detail if run else None
    stored = _everything(open_session, run_id)
    for secret in (API_KEY, PASSWORD, basic_b64, base64.b64encode(API_KEY.encode()).decode()):
        assert secret not in stored
        assert secret not in caplog.text
    assert "Bearer ***" in stored and "Basic ***" in stored and "used ***" in stored
    assert "calling upstream with key ***" in caplog.text
    assert active_secrets().values() == []  # the run's end stops masking its secrets


def test_an_error_with_the_secret_is_masked_in_the_run_and_in_the_alert(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        open_session: Callable[[], Session], add_key: Callable[..., str],
        add_graph_of: Callable[..., Any]) -> None:
    key = add_key("alice", "api", API_KEY)
    add_graph_of("alice", {"id": "call-api", "nodes": [
        {"id": "leak", "block": "leaky", "inputs": {"fail": True}}]})
    run_id = _run(session, open_session, now, registry, vault_settings, "alice",
                  {"leak.cred": key})
    with open_session() as s:
        run = run_store.get(s, run_id)
        assert run is not None and run.state == "failed" and run.error_code == RUN_NODE_FAILED
        assert run.error_detail is not None and "upstream rejected key ***" in run.error_detail
        finished = run.completed_at
    assert API_KEY not in _everything(open_session, run_id)
    channel = RecordingChannel()
    settings = vault_settings.model_copy(update={"block_error_min_executions": 1,
                                                 "alert_urls_ops": ["json://ops.example/x"]})
    ctx = JobContext(settings=settings,
                     alerts=AlertService.from_settings(settings, channel=channel))
    assert finished is not None
    report = block_errors.run_once(session, finished, ctx)
    assert report.alerting == ["leaky"]
    body = channel.sent[0].body
    assert "***" in body and API_KEY not in body


def test_after_rotate_key_with_the_old_key_removed_the_run_still_authenticates(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        open_session: Callable[[], Session], add_key: Callable[..., str],
        add_graph_of: Callable[..., Any], echo_server: EchoServer) -> None:
    key = add_key("alice", "api", API_KEY)
    add_graph_of("alice", {"id": "call-api", "nodes": [
        {"id": "call", "block": "http_request", "inputs": {"url": echo_server.url}}]})
    old = vault_settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    new = generate_key()
    report = vault.rotate(session, now, settings=vault_settings.model_copy(
        update={"secret_key": SecretStr(f"{new},{old}")}))
    assert report.rotated == 1
    only_new = vault_settings.model_copy(update={"secret_key": SecretStr(new)})
    run_id = _run(session, open_session, now, registry, only_new, "alice",
                  {"call.credential": key})
    assert [r["Authorization"] for r in echo_server.requests] == [f"Bearer {API_KEY}"]
    with open_session() as s:
        run = run_store.get(s, run_id)
        assert run is not None and run.state == "completed"


def test_a_credential_deleted_after_submission_fails_the_run_naming_node_and_input(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        open_session: Callable[[], Session], add_key: Callable[..., str],
        add_graph_of: Callable[..., Any], echo_server: EchoServer) -> None:
    key = add_key("alice", "api", API_KEY)
    add_graph_of("alice", {"id": "call-api", "nodes": [
        {"id": "call", "block": "http_request", "inputs": {"url": echo_server.url}}]})
    run = submit(session, graph_id="call-api", version=None, inputs={}, user_id="alice",
                 now=now, send=RecordingSender(), registry=registry, settings=vault_settings,
                 credentials={"call.credential": key})
    vault.delete(session, "alice", key)
    run_inline(open_session, run.id, registry=registry, settings=vault_settings)
    with open_session() as s:
        row = run_store.get(s, run.id)
        assert row is not None and row.state == "failed"
        assert row.error_code == RUN_UNUSABLE_RESOURCE
        assert f"node 'call' input 'credential': credential '{key}' does not exist" in (
            row.error_detail or "")
    assert echo_server.requests == []
