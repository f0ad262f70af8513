"""In-memory doubles shipped with fleet, used by tests and by ``fleet dev``.

Every external port has one here:

| port | real | double |
|---|---|---|
| clock | :func:`fleet.clock.utcnow` | :class:`FixedClock` |
| run sender | :func:`fleet.worker.broker.make_sender` | :class:`RecordingSender` |
| liveness | :class:`fleet.worker.liveness.RedisLiveness` | :class:`InMemoryLiveness` |
| alert channel | :class:`fleet.alerts.channels.AppriseChannel` | :class:`RecordingChannel` |
| alert port | :class:`fleet.alerts.service.AlertService` | :class:`RecordingAlerts` |
| broker | Dramatiq ``RedisBroker`` | Dramatiq ``StubBroker`` (see :mod:`fleet.worker.broker`) |
| executor | :func:`fleet.runs.execute.execute` | :class:`ScriptedExecutor` |
| token endpoint | :class:`fleet.vault.oauth.HttpTokenEndpoint` | :class:`FakeTokenEndpoint` |
| file storage | :class:`fleet.artifacts.storage.FsspecStorage` | :func:`memory_storage`, |
| | | :class:`FlakyStorage` (chosen deletes fail) |

Throwaway real servers for integration tests live in :mod:`fleet.testing.servers`.
"""

from fleet.testing.alerts import RecordingAlerts, RecordingChannel, Sent
from fleet.testing.clock import FixedClock, MonotonicClock
from fleet.testing.executor import ScriptedExecutor
from fleet.testing.liveness import InMemoryLiveness
from fleet.testing.oauth import FakeTokenEndpoint
from fleet.testing.sender import RecordingSender
from fleet.testing.storage import FlakyStorage, memory_storage

__all__ = [
    "FakeTokenEndpoint",
    "FixedClock",
    "FlakyStorage",
    "InMemoryLiveness",
    "MonotonicClock",
    "RecordingAlerts",
    "RecordingChannel",
    "RecordingSender",
    "ScriptedExecutor",
    "Sent",
    "memory_storage",
]
