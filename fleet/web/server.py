"""Running the web app: in the foreground for ``fleet web``, in a thread for ``fleet dev``."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from fleet.settings import Settings
from fleet.web.app import create_app

log = logging.getLogger(__name__)


def _config(app: FastAPI, settings: Settings, host: str, port: int,
            log_level: str) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, proxy_headers=True,
                          forwarded_allow_ips=settings.web_forwarded_allow_ips,
                          server_header=False, access_log=log_level == "info")


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the app until interrupted (SIGINT/SIGTERM end it gracefully)."""
    app = create_app(settings)
    uvicorn.Server(_config(app, settings, host or settings.web_host, port or settings.web_port,
                           "info")).run()


@dataclass
class WebThread:
    """A web server running in a thread of this process."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the server to finish and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout_s)


def start_in_thread(settings: Settings, host: str, port: int, *,
                    app: FastAPI | None = None, wait_s: float = 10.0) -> WebThread | None:
    """Start serving in a daemon thread; None when it could not listen (port taken)."""
    server = uvicorn.Server(_config(app or create_app(settings), settings, host, port,
                                    "warning"))
    thread = threading.Thread(target=server.run, name="fleet-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + wait_s
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        thread.join(2)
        log.warning("fleet web could not listen on %s:%d", host, port)
        return None
    return WebThread(server, thread, f"http://{host}:{port}/")
