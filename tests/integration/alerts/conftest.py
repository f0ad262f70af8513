"""Fixtures for alert tests: a local HTTP endpoint that Apprise's ``json://`` posts to."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Endpoint:
    """A local HTTP server recording JSON posts; ``down=True`` answers 503."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.down = False
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                if endpoint.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                with endpoint._lock:
                    endpoint.posts.append(json.loads(body or b"{}"))
                    endpoint.paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "hook") -> str:
        """An Apprise URL posting JSON here."""
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        """Titles received, in order."""
        with self._lock:
            return [p.get("title", "") for p in self.posts]

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """A running local endpoint."""
    ep = Endpoint()
    yield ep
    ep.close()
