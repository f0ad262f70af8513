"""What the run lifecycle lends a running block: credentials, file storage, redaction.

The engine stays pure: :class:`BlockServices` is a bag of callables that the
durable executor (``fleet.runs.block_services``) fills from the vault and the
artifact store. In-memory runs get none, and a block that needs one is told so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleet.engine.credentials import CredentialValue

# (node id, pin, credential id) -> the decrypted credential
ResolveCredential = Callable[[str, str, str], CredentialValue]
# (node id, file name, bytes, content type, expiry in seconds or None) -> artifact reference
WriteFile = Callable[[str, str, bytes, str, float | None], dict[str, Any]]
# (node id, pin, value, JSON size) -> an artifact reference standing for the value, or None
Spill = Callable[[str, str, Any, int], dict[str, Any] | None]


@dataclass
class BlockServices:
    """Ports for blocks, filled per run by the executor; any of them may be absent."""

    credential: ResolveCredential | None = None
    write_file: WriteFile | None = None
    scrub: Callable[[Any], Any] | None = None  # masks secrets in outputs and errors
    spill: Spill | None = None  # stores an output over the event cap as an artifact
