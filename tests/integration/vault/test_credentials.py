"""Credentials on SQLite and PostgreSQL: the service, rotation, checks, refresh, expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import CredentialUnavailable, InvalidInput, NotFound, SecretKeyError
from fleet.ports import JobContext
from fleet.runs import control
from fleet.runs.submit import submit
from fleet.scheduling import dispatcher
from fleet.scheduling import service as schedules
from fleet.settings import Settings
from fleet.store import credentials as cred_store
from fleet.store.models import Credential, Run
from fleet.sweeps import expired_tokens
from fleet.testing import FakeTokenEndpoint, FixedClock, RecordingSender
from fleet.tokens import service as tokens
from fleet.vault import service as vault
from fleet.vault.checks import credential_problems
from fleet.vault.keys import generate_key
from fleet.vault.use import CredentialResolver

CALL: dict[str, Any] = {"id": "call-api", "nodes": [
    {"id": "call", "block": "http_request", "inputs": {"url": "http://127.0.0.1:9/x"}},
    {"id": "leak", "block": "leaky"}]}


def _count(session: Session, model: Any) -> int:
    n = session.execute(select(func.count()).select_from(model)).scalar_one()
    session.rollback()
    return int(n)


def test_add_list_delete_and_another_users_credential_is_not_found(
        session: Session, add_key: Callable[..., str]) -> None:
    cid = add_key("alice", "github", "ghp_SecretToken1")
    row = session.get(Credential, cid)
    assert row is not None and "ghp_SecretToken1" not in row.secret
    views = [vault.view(c) for c in vault.list_credentials(session, "alice")]
    assert [(v["name"], v["kind"]) for v in views] == [("github", "api_key")]
    assert "secret" not in views[0]
    assert vault.list_credentials(session, "bob") == []
    with pytest.raises(NotFound, match="does not exist for user 'bob'"):
        vault.delete(session, "bob", cid)
    assert _count(session, Credential) == 1
    assert vault.delete(session, "alice", "github") == cid
    assert _count(session, Credential) == 0


def test_add_refuses_bad_input_and_stores_nothing(
        session: Session, now: datetime, vault_settings: Settings,
        add_key: Callable[..., str]) -> None:
    add_key("alice", "taken", "k-1234567")
    with pytest.raises(InvalidInput) as err:
        vault.add(session, now, settings=vault_settings, user_id="alice", name="taken",
                  kind="basic", secret={"password": ""}, token_url="ftp://x",
                  expires_at=now - timedelta(seconds=1))
    text = "\n".join(err.value.problems)
    for expected in ("already has a credential called 'taken'", "'password' is missing",
                     "basic credentials need a username", "token_url: an http(s) URL",
                     "is already past"):
        assert expected in text
    with pytest.raises(InvalidInput, match="was not added"):
        vault.add(session, now, settings=vault_settings, user_id="alice", name="x",
                  kind="ssh", secret={"key": "k"})
    with pytest.raises(SecretKeyError):
        vault.add(session, now, settings=vault_settings.model_copy(update={"secret_key": None}),
                  user_id="alice", name="y", kind="api_key", secret={"key": "k-1234567"})
    assert _count(session, Credential) == 1


def test_rotate_key_in_batches_then_the_old_key_can_go(
        session: Session, now: datetime, vault_settings: Settings,
        open_session: Callable[[], Session]) -> None:
    old = vault_settings.secret_key
    assert old is not None
    ids = [vault.add(session, now, settings=vault_settings, user_id="alice", name=f"k{i}",
                     kind="api_key", secret={"key": f"secret-{i}-abcdef"}).id for i in range(5)]
    new_key = generate_key()
    both = vault_settings.model_copy(update={
        "secret_key": SecretStr(f"{new_key},{old.get_secret_value()}")})
    report = vault.rotate(session, now, settings=both, batch=2)
    assert (report.rotated, report.batches, report.failed) == (5, 3, [])
    assert vault.rotate(session, now, settings=both, batch=2).rotated == 0
    only_new = vault_settings.model_copy(update={"secret_key": SecretStr(new_key)})
    forms: list[str] = []
    resolver = CredentialResolver(open_session, user_id="alice", settings=only_new,
                                  clock=FixedClock(now), endpoint=FakeTokenEndpoint(),
                                  on_secret=forms.extend)
    assert [resolver("n", "cred", cid).secret for cid in ids] == [
        f"secret-{i}-abcdef" for i in range(5)]
    assert "secret-0-abcdef" in forms


def test_rotate_reports_what_no_key_opens_and_leaves_it(
        session: Session, now: datetime, vault_settings: Settings) -> None:
    lost = vault_settings.model_copy(update={"secret_key": SecretStr(generate_key())})
    lost_id = vault.add(session, now, settings=lost, user_id="alice", name="lost",
                        kind="api_key", secret={"key": "abcdefgh"}).id
    vault.add(session, now, settings=vault_settings, user_id="alice", name="old",
              kind="api_key", secret={"key": "abcdefgh"})
    before = session.get(Credential, lost_id)
    assert before is not None
    cipher = before.secret
    session.rollback()
    newer = vault_settings.model_copy(update={"secret_key": SecretStr(
        f"{generate_key()},{vault_settings.secret_key.get_secret_value()}")})  # type: ignore[union-attr]
    report = vault.rotate(session, now, settings=newer, batch=1)
    assert report.failed == [lost_id] and report.rotated == 1
    after = session.get(Credential, lost_id, populate_existing=True)
    assert after is not None and after.secret == cipher


def test_checks_refuse_missing_foreign_and_wrong_kind_naming_node_and_input(
        session: Session, registry: BlockRegistry, add_key: Callable[..., str],
        now: datetime) -> None:
    mine = add_key("alice", "mine", "k-alice-123")
    theirs = add_key("bob", "theirs", "k-bob-12345")
    oauth = add_key("alice", "oauth", "at-123456", kind="oauth2")
    definition = {**CALL, "nodes": [{**CALL["nodes"][0], "inputs": {
        **CALL["nodes"][0]["inputs"], "credential": theirs}}, CALL["nodes"][1]]}

    def problems(credentials: Any) -> list[str]:
        return credential_problems(session, user_id="alice", definition=definition, inputs={},
                                   credentials=credentials, registry=registry)

    found = problems({"leak.cred": oauth})
    assert found == [
        f"node 'call' input 'credential': credential '{theirs}' does not exist for user "
        "'alice'; see `fleet credentials list`",
        f"node 'leak' input 'cred': credential '{oauth}' is oauth2, but this input takes "
        "api_key, basic"]
    missing = problems({"call.credential": "nope", "leak.cred": mine})
    assert missing == ["node 'call' input 'credential': credential 'nope' does not exist for "
                       "user 'alice'; see `fleet credentials list`"]
    assert problems({"call.credential": mine, "leak.cred": mine}) == []
    assert "node 'leak' has no credential input 'key'" in problems({"leak.key": mine})[0]
    assert "names no node's credential input" in problems({"ghost.cred": mine})[0]


def test_submit_refuses_a_foreign_credential_and_creates_no_run(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        add_key: Callable[..., str], add_graph_of: Callable[..., Any]) -> None:
    add_graph_of("alice", CALL)
    theirs = add_key("bob", "theirs", "k-bob-12345")
    sender = RecordingSender()
    with pytest.raises(InvalidInput) as err:
        submit(session, graph_id="call-api", version=None, inputs={}, user_id="alice",
               now=now, send=sender, registry=registry, settings=vault_settings,
               credentials={"call.credential": theirs})
    assert err.value.problems == [
        f"credentials: node 'call' input 'credential': credential '{theirs}' does not exist "
        "for user 'alice'; see `fleet credentials list`"]
    assert _count(session, Run) == 0 and sender.sent == []


def test_a_schedules_credentials_reach_every_run_and_a_retry_keeps_them(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        add_key: Callable[..., str], add_graph_of: Callable[..., Any]) -> None:
    add_graph_of("alice", CALL)
    mine = add_key("alice", "mine", "k-alice-123")
    theirs = add_key("bob", "theirs", "k-bob-12345")
    with pytest.raises(InvalidInput, match="schedule was not added"):
        schedules.add(session, now, settings=vault_settings, registry=registry,
                      user_id="alice", graph_id="call-api", cron_expr="* * * * *",
                      credentials={"call.credential": theirs})
    creds = {"call.credential": mine, "leak.cred": mine}
    schedule = schedules.add(session, now, settings=vault_settings, registry=registry,
                             user_id="alice", graph_id="call-api", cron_expr="* * * * *",
                             credentials=creds)
    ctx = JobContext(settings=vault_settings, send_run=RecordingSender())
    report = dispatcher.run_once(session, now + timedelta(minutes=1, seconds=5), ctx,
                                 registry=registry)
    assert report.fired == 1
    run = session.execute(select(Run).where(col(Run.schedule_id) == schedule.id)).scalar_one()
    assert run.credentials == creds
    session.execute(update(Run).where(col(Run.id) == run.id).values(state="failed"))
    session.commit()
    retried = control.retry(session, run.id, now=now, send=RecordingSender(),
                            registry=registry, settings=vault_settings, user_id="alice")
    assert retried.retry_of == run.id and retried.credentials == creds


def test_oauth2_is_refreshed_through_the_token_url_before_it_expires(
        session: Session, now: datetime, vault_settings: Settings,
        open_session: Callable[[], Session], add_key: Callable[..., str]) -> None:
    cid = add_key("alice", "google", "", kind="oauth2",
                  payload={"access_token": "old-access-1", "refresh_token": "refresh-abcdef",
                           "client_secret": "client-secret-1"},
                  token_url="https://oauth.example/token", client_id="app",
                  expires_at=now + timedelta(seconds=30))
    endpoint = FakeTokenEndpoint(expires_in_s=3600)
    seen: list[str] = []
    resolver = CredentialResolver(open_session, user_id="alice", settings=vault_settings,
                                  clock=FixedClock(now), endpoint=endpoint,
                                  on_secret=seen.extend)
    value = resolver("call", "credential", cid)
    assert value.secret == "access-token-0001" and value.kind == "oauth2"
    assert [(c.token_url, c.refresh_token, c.client_id, c.client_secret)
            for c in endpoint.calls] == [("https://oauth.example/token", "refresh-abcdef",
                                          "app", "client-secret-1")]
    assert {"old-access-1", "refresh-abcdef", "access-token-0001"} <= set(seen)
    row = session.get(Credential, cid, populate_existing=True)
    assert row is not None and row.expires_at == now + timedelta(seconds=3600)
    assert row.last_refreshed_at == now
    assert resolver("call", "credential", cid).secret == "access-token-0001"
    assert len(endpoint.calls) == 1  # fresh now: no second refresh


def test_oauth2_that_cannot_be_refreshed_is_refused_naming_node_and_input(
        session: Session, now: datetime, vault_settings: Settings,
        open_session: Callable[[], Session], add_key: Callable[..., str]) -> None:
    bare = add_key("alice", "bare", "at-only-12345", kind="oauth2",
                   expires_at=now + timedelta(seconds=10))
    revoked = add_key("alice", "revoked", "", kind="oauth2",
                      payload={"access_token": "at-2222222", "refresh_token": "rt-2222222"},
                      token_url="https://oauth.example/token",
                      expires_at=now + timedelta(seconds=10))
    resolver = CredentialResolver(open_session, user_id="alice", settings=vault_settings,
                                  clock=FixedClock(now), endpoint=FakeTokenEndpoint(refuse=True),
                                  on_secret=lambda _: None)
    with pytest.raises(CredentialUnavailable, match="node 'n' input 'c': OAuth2 credential "
                                                    "'bare' expired"):
        resolver("n", "c", bare)
    with pytest.raises(CredentialUnavailable, match="refreshing OAuth2 credential 'revoked' "
                                                    "failed"):
        resolver("n", "c", revoked)
    with pytest.raises(NotFound, match="does not exist for user 'bob'"):
        CredentialResolver(open_session, user_id="bob", settings=vault_settings,
                           clock=FixedClock(now), endpoint=FakeTokenEndpoint(),
                           on_secret=lambda _: None)("n", "c", bare)


def test_expired_tokens_deletes_by_kind_and_keeps_what_can_be_refreshed(
        session: Session, now: datetime, vault_settings: Settings,
        add_key: Callable[..., str]) -> None:
    soon = now + timedelta(hours=1)
    add_key("alice", "old-key", "k-1234567", expires_at=soon)
    add_key("alice", "old-token", "at-1234567", kind="oauth2", expires_at=soon)
    add_key("alice", "refreshable", "", kind="oauth2", expires_at=soon,
            payload={"access_token": "at-7654321", "refresh_token": "rt-7654321"},
            token_url="https://oauth.example/token")
    add_key("alice", "forever", "k-7654321")
    add_key("alice", "later", "pw-1234567", kind="basic", username="ann",
            expires_at=now + timedelta(days=30))
    # API tokens (SPEC §12): three expire, one does not; batches of 2
    for name in ("t1", "t2", "t3"):
        tokens.create(session, user_id="alice", role="viewer", now=now,
                      expires_in=timedelta(hours=1), name=name)
    tokens.create(session, user_id="alice", role="viewer", now=now, expires_in=None,
                  name="kept")
    ctx = JobContext(settings=vault_settings.model_copy(update={"token_expiry_batch": 2}))
    report = expired_tokens.SWEEP.run_once(session, now + timedelta(hours=2), ctx)
    assert report.to_dict()["deleted"] == {"credential:api_key": 1, "credential:basic": 0,
                                           "credential:oauth2": 1, "api_token": 3}
    assert [t.name for t in tokens.list_tokens(session, user_id="alice")] == ["kept"]
    left = sorted(c.name for c in cred_store.list_for_user(session, "alice"))
    assert left == ["forever", "later", "refreshable"]
    assert expired_tokens.SWEEP.run_once(session, now + timedelta(hours=2), ctx).to_dict()[
        "deleted"] == {"credential:api_key": 0, "credential:basic": 0, "credential:oauth2": 0,
                       "api_token": 0}
