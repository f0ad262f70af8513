"""Credentials for blocks: encryption with rotation, kinds, use inside a block, redaction.

- :mod:`fleet.vault.kinds`: the three kinds, their secret payloads and the forms of a
  secret that must never surface (the value, its base64, basic auth's ``user:password``).
- :mod:`fleet.vault.keys`: the Fernet keyring of ``FLEET_SECRET_KEY`` (several keys: rotation).
- :mod:`fleet.vault.service`: add, list, delete, rotate-key.
- :mod:`fleet.vault.checks`: a graph's credential inputs refused when missing or foreign.
- :mod:`fleet.vault.oauth`: the token endpoint port (refresh through the provider's token URL).
- :mod:`fleet.vault.use`: a credential decrypted (and refreshed) for one block's execution.
- :mod:`fleet.vault.expiry`: the expirers of the ``expired_tokens`` job.

The vault sits below the run lifecycle (``fleet.runs`` calls it) and above the
engine and the store.
"""
