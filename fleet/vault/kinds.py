"""The kinds of credentials, the shape of their secret payloads, and what must stay hidden."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from fleet.engine.credentials import KINDS

API_KEY, BASIC, OAUTH2 = KINDS

# The secret fields of each kind's payload (the JSON that is encrypted) and which one a
# block receives as ``CredentialValue.secret``.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    API_KEY: ("key",),
    BASIC: ("password",),
    OAUTH2: ("access_token", "refresh_token", "client_secret"),
}
PRIMARY_FIELD = {API_KEY: "key", BASIC: "password", OAUTH2: "access_token"}


def payload_problems(kind: str, payload: Any) -> list[str]:
    """What is wrong with a secret payload of ``kind`` (empty when it is fine)."""
    if kind not in SECRET_FIELDS:
        return [f"kind '{kind}' is unknown; use one of {', '.join(KINDS)}"]
    if not isinstance(payload, dict):
        return ["the secret must be a JSON object"]
    problems = []
    primary = PRIMARY_FIELD[kind]
    if not isinstance(payload.get(primary), str) or not payload[primary]:
        problems.append(f"the secret's '{primary}' is missing or empty")
    extra = sorted(set(payload) - set(SECRET_FIELDS[kind]))
    if extra:
        problems.append(f"unknown secret field(s) {', '.join(extra)} for kind '{kind}' "
                        f"(fields: {', '.join(SECRET_FIELDS[kind])})")
    problems += [f"the secret's '{k}' must be text" for k, v in payload.items()
                 if k in SECRET_FIELDS[kind] and v is not None and not isinstance(v, str)]
    return problems


def _encodings(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="), quote(value, safe="")]


def secret_forms(kind: str, payload: dict[str, Any], *, username: str | None = None,
                 client_id: str | None = None) -> list[str]:
    """Every string that would give the secret away: the values, their base64 and URL forms,
    and for basic auth (and OAuth2 client authentication) the base64 of ``user:secret``."""
    forms: list[str] = []
    for field in SECRET_FIELDS.get(kind, ()):
        value = payload.get(field)
        if isinstance(value, str) and value:
            forms += _encodings(value)
    if kind == BASIC and isinstance(payload.get("password"), str):
        forms += _encodings(f"{username or ''}:{payload['password']}")
    if kind == OAUTH2 and isinstance(payload.get("client_secret"), str):
        forms += _encodings(f"{client_id or ''}:{payload['client_secret']}")
    return sorted(set(forms), key=len, reverse=True)
