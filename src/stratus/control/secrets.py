"""Environment variables at rest: sealed with AES-256-GCM before a record reaches the store.

The key comes from the `encryption_key` setting (base64 of 32 bytes) or from a key file in the data
dir, created with mode 0600 at first start. The function's name is the associated data, so a sealed
environment cannot be moved to another function's record unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stratus.shapes import EnvironmentResponse, FunctionRecord

_NONCE_BYTES = 12
_KEY_BYTES = 32


class EncryptionKeyError(Exception):
    """The configured key cannot be used (wrong length, not base64, unreadable key file)."""


def load_key(configured: str, key_path: Path) -> bytes:
    """The AES key: the configured one, else the key file's (created at first start)."""
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except (binascii.Error, ValueError):
            raise EncryptionKeyError("STRATUS_ENCRYPTION_KEY is not valid base64") from None
        if len(key) != _KEY_BYTES:
            raise EncryptionKeyError(f"STRATUS_ENCRYPTION_KEY must be {_KEY_BYTES} bytes (base64), got {len(key)}")
        return key
    try:
        key = key_path.read_bytes()
    except FileNotFoundError:
        key_path.parent.mkdir(parents=True, exist_ok=True)
        key = AESGCM.generate_key(bit_length=256)
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return load_key("", key_path)
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        return key
    if len(key) != _KEY_BYTES:
        raise EncryptionKeyError(f"the key file {key_path} does not hold a {_KEY_BYTES}-byte key")
    return key


class EnvironmentSealer:
    """Seals a record's Environment.Variables for the store and opens them again on load."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def seal(self, record: FunctionRecord) -> FunctionRecord:
        """The record as stored: variables encrypted into `sealed_environment`, none in the config."""
        environment = record.config.Environment
        if environment is None or environment.Variables is None:
            return record
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, msgspec.json.encode(environment.Variables), record.name.encode())
        config = msgspec.structs.replace(
            record.config, Environment=msgspec.structs.replace(environment, Variables=None))
        return msgspec.structs.replace(record, config=config, sealed_environment=sealed)

    def open(self, record: FunctionRecord) -> FunctionRecord:
        """The record as served: variables decrypted back into the configuration."""
        if record.sealed_environment is None:
            return record
        blob = record.sealed_environment
        try:
            plain = self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], record.name.encode())
        except InvalidTag:
            raise EncryptionKeyError(
                f"cannot decrypt the environment variables of function {record.name!r}: the encryption key is not "
                "the one they were sealed with (STRATUS_ENCRYPTION_KEY or the data dir's secret.key)") from None
        variables = msgspec.json.decode(plain, type=dict[str, str])
        environment = record.config.Environment or EnvironmentResponse()
        config = msgspec.structs.replace(
            record.config, Environment=msgspec.structs.replace(environment, Variables=variables))
        return msgspec.structs.replace(record, config=config, sealed_environment=None)
