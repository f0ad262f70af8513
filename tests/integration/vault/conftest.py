"""Fixtures of the credentials, artifacts and search tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks
from fleet.engine.credentials import CredentialSpec
from fleet.graphs.service import add_graph
from fleet.settings import Settings
from fleet.store.db import session_factory
from fleet.store.models import Graph
from fleet.vault import service as vault
from fleet.vault.keys import generate_key


class LeakyBlock(Block):
    """Logs its credential's secret and fails with it in the message when asked to."""

    id = "leaky"
    description = "Logs and (optionally) fails with its credential's secret."
    credentials = {"cred": CredentialSpec(kinds=("api_key", "basic"))}

    class Input(BaseModel):
        cred: str | None = None
        fail: bool = False

    class Output(BaseModel):
        text: str = ""

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        import logging

        secret = ctx.credential("cred").secret
        logging.getLogger("tests.leaky").warning("calling upstream with key %s", secret)
        if inputs.fail:
            raise ValueError(f"upstream rejected key {secret}")
        yield "text", f"used {secret}"


@pytest.fixture
def vault_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings with a Fernet key and a local artifacts directory."""
    return settings.model_copy(update={"secret_key": SecretStr(generate_key()),
                                       "artifacts_url": str(tmp_path / "artifacts")})


@pytest.fixture
def registry() -> BlockRegistry:
    """The built-ins plus ``leaky``."""
    return BlockRegistry([*builtin_blocks(), LeakyBlock])


@pytest.fixture
def open_session(engine: Engine) -> Callable[[], Session]:
    """New sessions on the test's database."""
    return session_factory(engine)


@pytest.fixture
def add_key(session: Session, now: datetime, vault_settings: Settings) -> Callable[..., str]:
    """Store a credential; its id."""

    def _add(user: str, name: str, secret: str, kind: str = "api_key", **kw: Any) -> str:
        field = {"api_key": "key", "basic": "password"}.get(kind, "access_token")
        payload = kw.pop("payload", None) or {field: secret}
        return vault.add(session, now, settings=vault_settings, user_id=user, name=name,
                         kind=kind, secret=payload, **kw).id

    return _add


@pytest.fixture
def add_graph_of(session: Session, now: datetime, registry: BlockRegistry,
                 vault_settings: Settings) -> Callable[[str, dict[str, Any]], Graph]:
    """Store a graph for a user."""

    def _add(user: str, definition: dict[str, Any]) -> Graph:
        return add_graph(session, definition, user, now, registry, settings=vault_settings)

    return _add


class EchoServer:
    """A local HTTP server that records each request's headers and echoes them as JSON."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items()}
                outer.requests.append(headers)
                body = json.dumps({"you_sent": headers}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/echo"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    """A running echo server."""
    server = EchoServer()
    yield server
    server.close()
