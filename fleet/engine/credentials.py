"""How blocks declare and receive credentials; the engine never sees where they are stored.

A block lists its credential inputs in ``credentials``: each names an optional
``str`` input pin that holds a credential *id*, with the kinds it accepts.
Graphs, schedules and runs carry those ids only. Inside the block's
execution, ``ctx.credential(pin)`` hands over the decrypted
:class:`CredentialValue` (the run lifecycle supplies it; the engine itself
knows no store).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

KINDS = ("api_key", "basic", "oauth2")


@dataclass(frozen=True)
class CredentialSpec:
    """One credential input of a block: the kinds it takes, and whether it must be given."""

    kinds: tuple[str, ...] = KINDS
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class CredentialValue:
    """A decrypted credential, only ever held inside a block's execution.

    ``secret`` is the API key, the basic-auth password or the OAuth2 access
    token; it never shows in ``repr``.
    """

    id: str
    kind: str
    secret: str = field(repr=False)
    username: str | None = None

    def header(self, name: str = "Authorization") -> tuple[str, str]:
        """The ``(header, value)`` carrying this credential.

        For ``Authorization``: ``Basic base64(user:password)`` for basic auth,
        ``Bearer TOKEN`` otherwise; any other header gets the bare key (or the
        base64 pair for basic auth).
        """
        if self.kind == "basic":
            pair = base64.b64encode(f"{self.username or ''}:{self.secret}".encode()).decode()
            return name, (f"Basic {pair}" if name.lower() == "authorization" else pair)
        if name.lower() == "authorization":
            return name, f"Bearer {self.secret}"
        return name, self.secret
