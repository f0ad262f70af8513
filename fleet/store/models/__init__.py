"""All tables of fleet, one module per aggregate, re-exported here.

Importing this package registers every table on ``SQLModel.metadata``; the
migrations are checked against that metadata by the test suite.
"""

from fleet.store.models.alerts import Alert, AlertDelivery, NotificationSetting
from fleet.store.models.artifacts import Artifact
from fleet.store.models.audit import AuditEntry
from fleet.store.models.batches import BatchOperation
from fleet.store.models.credentials import Credential
from fleet.store.models.graphs import Graph
from fleet.store.models.idempotency import IdempotencyKey
from fleet.store.models.jobs import SystemJob
from fleet.store.models.metrics import MetricCounter, MetricWatermark
from fleet.store.models.runs import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    NodeRun,
    Run,
    RunEvent,
    RunState,
)
from fleet.store.models.runtimes import Runtime
from fleet.store.models.schedules import Schedule, ScheduleFire
from fleet.store.models.search import SearchEntry
from fleet.store.models.tokens import ApiToken

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "Alert",
    "AlertDelivery",
    "ApiToken",
    "Artifact",
    "AuditEntry",
    "BatchOperation",
    "Credential",
    "Graph",
    "IdempotencyKey",
    "MetricCounter",
    "MetricWatermark",
    "NodeRun",
    "NotificationSetting",
    "Run",
    "RunEvent",
    "RunState",
    "Runtime",
    "Schedule",
    "ScheduleFire",
    "SearchEntry",
    "SystemJob",
]
