"""Entry point of ``dramatiq actors.main``: boot the process's application, declare the actors."""

from __future__ import annotations

from actors import declare
from fleet.worker.app import boot

APP = boot()
ACTORS = declare(APP)
