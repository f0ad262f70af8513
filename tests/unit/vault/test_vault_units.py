"""Keys and rotation, secret forms, masking in data and logs, the credential header."""

from __future__ import annotations

import base64
import logging

import pytest
from pydantic import SecretStr

from fleet.engine.credentials import CredentialValue
from fleet.errors import DecryptionFailed, SecretKeyError
from fleet.redact import (
    SecretSet,
    active_secrets,
    forget,
    install_secret_masking,
    redact,
    remember,
)
from fleet.settings import Settings
from fleet.vault.keys import Keyring, generate_key, key_id
from fleet.vault.kinds import payload_problems, secret_forms


def _settings(keys: str | None) -> Settings:
    return Settings(_env_file=None, secret_key=SecretStr(keys) if keys else None)


def test_keyring_rotation_decrypts_with_any_key_and_encrypts_with_the_first() -> None:
    old, new = generate_key(), generate_key()
    token, kid = Keyring.from_settings(_settings(old)).encrypt({"key": "abc123"})
    assert kid == key_id(old)
    both = Keyring.from_settings(_settings(f"{new}, {old}"))
    assert both.decrypt(token, what="c") == {"key": "abc123"}
    rotated = both.rotate(token, what="c")
    only_new = Keyring.from_settings(_settings(new))
    assert only_new.decrypt(rotated, what="c") == {"key": "abc123"}
    with pytest.raises(DecryptionFailed, match="rotate-key"):
        only_new.decrypt(token, what="credential x")


def test_keyring_refuses_missing_and_malformed_keys() -> None:
    with pytest.raises(SecretKeyError, match="FLEET_SECRET_KEY is not set"):
        Keyring.from_settings(_settings(None))
    with pytest.raises(SecretKeyError, match="key #2 is not a Fernet key"):
        Keyring.from_settings(_settings(f"{generate_key()},nope"))


def test_secret_forms_cover_base64_and_basic_pairs() -> None:
    forms = secret_forms("basic", {"password": "hunter2hunter"}, username="ann")
    assert "hunter2hunter" in forms
    assert base64.b64encode(b"hunter2hunter").decode() in forms
    assert base64.b64encode(b"ann:hunter2hunter").decode() in forms
    oauth = secret_forms("oauth2", {"access_token": "at-123456", "client_secret": "cs-98765"},
                         client_id="app")
    assert base64.b64encode(b"app:cs-98765").decode() in oauth and "at-123456" in oauth


def test_payload_problems_name_each_problem() -> None:
    assert payload_problems("api_key", {"key": "k"}) == []
    assert payload_problems("basic", {}) == ["the secret's 'password' is missing or empty"]
    assert "unknown secret field(s) extra" in payload_problems("api_key",
                                                               {"key": "k", "extra": 1})[0]
    assert payload_problems("ssh", {})[0].startswith("kind 'ssh' is unknown")


def test_secret_set_masks_nested_data_longest_first() -> None:
    secrets = SecretSet(["abcd", "abcdefgh", "xy"])  # "xy" is too short to be masked
    data = {"k abcdefgh": ["abcd and abcdefgh", ("xy",)], "n": 3}
    assert secrets.scrub(data) == {"k ***": ["*** and ***", ("xy",)], "n": 3}


def test_remembered_secrets_are_masked_in_redact_and_in_every_log_record(
        caplog: pytest.LogCaptureFixture) -> None:
    install_secret_masking()
    secret = "TopSecretValue42"
    remember([secret])
    try:
        assert redact(f"key is {secret}") == "key is ***"
        with caplog.at_level(logging.INFO, logger="some.library"):
            logging.getLogger("some.library").info("sending %s now", secret)
            try:
                raise ValueError(f"rejected {secret}")
            except ValueError:
                logging.getLogger("some.library").exception("failed")
        assert secret not in caplog.text and "sending *** now" in caplog.text
        assert "rejected ***" in caplog.text
    finally:
        forget([secret])
    assert secret not in active_secrets().values()
    assert redact(f"key is {secret}") == f"key is {secret}"


def test_remember_is_counted_per_holder() -> None:
    remember(["SharedSecret1"])
    remember(["SharedSecret1"])
    forget(["SharedSecret1"])
    assert "SharedSecret1" in active_secrets().values()
    forget(["SharedSecret1"])
    assert "SharedSecret1" not in active_secrets().values()


def test_credential_header_forms_and_hidden_repr() -> None:
    key = CredentialValue(id="c1", kind="api_key", secret="k-123456")
    assert key.header() == ("Authorization", "Bearer k-123456")
    assert key.header("X-API-Key") == ("X-API-Key", "k-123456")
    basic = CredentialValue(id="c2", kind="basic", secret="pw-123456", username="ann")
    pair = base64.b64encode(b"ann:pw-123456").decode()
    assert basic.header() == ("Authorization", f"Basic {pair}")
    assert "pw-123456" not in repr(basic) and "k-123456" not in repr(key)
