"""The keyring of ``FLEET_SECRET_KEY``: Fernet keys, the first encrypting, all decrypting.

Each ciphertext is stored with the id of the key that made it (a digest of the
key, never the key), so ``rotate-key`` finds what the newest key did not encrypt.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from fleet.errors import DecryptionFailed, SecretKeyError
from fleet.settings import Settings


def generate_key() -> str:
    """A new random Fernet key (URL-safe base64 text)."""
    return Fernet.generate_key().decode()


def key_id(key: str) -> str:
    """A short public digest naming a key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Keyring:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("FLEET_SECRET_KEY is not set; credentials need at least one "
                                 "Fernet key (make one with `fleet credentials generate-key`)")
        fernets = []
        for i, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                raise SecretKeyError(
                    f"FLEET_SECRET_KEY: key #{i} is not a Fernet key (32 url-safe base64 "
                    "bytes); make one with `fleet credentials generate-key`") from None
        self._multi = MultiFernet(fernets)
        self._primary = fernets[0]
        self.primary_id = key_id(keys[0])
        self.ids = [key_id(k) for k in keys]

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """The keyring of ``settings.secret_key`` (comma-separated keys, newest first)."""
        raw = settings.secret_key.get_secret_value() if settings.secret_key else ""
        return cls([k.strip() for k in raw.split(",") if k.strip()])

    def encrypt(self, payload: dict[str, Any]) -> tuple[str, str]:
        """``(ciphertext, key id)`` of a JSON payload, with the newest key."""
        token = self._primary.encrypt(json.dumps(payload, sort_keys=True).encode())
        return token.decode(), self.primary_id

    def decrypt(self, ciphertext: str, *, what: str) -> dict[str, Any]:
        """The payload; DecryptionFailed (naming ``what``) when no key opens it."""
        try:
            data = self._multi.decrypt(ciphertext.encode())
        except InvalidToken:
            raise DecryptionFailed(
                f"{what} cannot be decrypted with any key of FLEET_SECRET_KEY; was the key "
                "that encrypted it removed before `fleet credentials rotate-key` ran? Put it "
                "back (after the new key) and rotate again") from None
        value = json.loads(data)
        if not isinstance(value, dict):
            raise DecryptionFailed(f"{what}: the decrypted secret is not a JSON object")
        return value

    def rotate(self, ciphertext: str, *, what: str) -> str:
        """The same payload encrypted with the newest key."""
        try:
            return self._multi.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionFailed(
                f"{what} cannot be decrypted with any key of FLEET_SECRET_KEY; it was "
                "left as it is") from None
