"""Access keys: `STRATUS_ACCESS_KEYS="id:secret,..."`, else the admin pair in `<data dir>/credentials`
(the AWS shared-credentials format, profile `stratus`, mode 0600), made on first start."""

from __future__ import annotations

import configparser
import os
import secrets
import string
from pathlib import Path

PROFILE = "stratus"
_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class AccessKeyError(ValueError):
    """STRATUS_ACCESS_KEYS or the credentials file cannot be used (the message says why, in one line)."""


def parse_access_keys(value: str) -> dict[str, str]:
    """`id:secret,id2:secret2` → {id: secret}."""
    keys = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        key_id, sep, secret = item.partition(":")
        if not sep or not key_id.strip() or not secret.strip():
            raise AccessKeyError(f"STRATUS_ACCESS_KEYS: '{item.split(':')[0]}:...' is not of the form id:secret")
        keys[key_id.strip()] = secret.strip()
    if not keys:
        raise AccessKeyError("STRATUS_ACCESS_KEYS is set but names no id:secret pair")
    return keys


def new_key_pair() -> tuple[str, str]:
    key_id = "STRK" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))  # 20 characters, as AWS's
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return key_id, secret


def load_or_create_credentials(path: Path) -> tuple[dict[str, str], bool]:
    """The admin key pair from the credentials file (profile `stratus`), creating it (mode 0600) if absent.
    Returns ({id: secret}, created)."""
    if path.exists():
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
            section = parser[PROFILE]
            return {section["aws_access_key_id"].strip(): section["aws_secret_access_key"].strip()}, False
        except (configparser.Error, KeyError):
            raise AccessKeyError(f"{path} has no [{PROFILE}] profile with aws_access_key_id and "
                                 "aws_secret_access_key: fix it or delete it (a new key pair is then made)") from None
    key_id, secret = new_key_pair()
    text = f"[{PROFILE}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temp, path)
    return {key_id: secret}, True
