"""Temporary credentials of execution roles: one set per execution environment, valid while it lives.

Like the credentials Lambda gives a function (`ASIA...` key id, secret, session token), injected as
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. They exist only in memory: they end
with their environment (revoked) and with the server.
"""

from __future__ import annotations

import hmac
import secrets
import string
from dataclasses import dataclass

from stratus.auth.principal import Principal

_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True, slots=True)
class Session:
    secret: str
    token: str
    principal: Principal

    def token_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.token.encode(), token.encode("utf-8", "replace"))


class SessionCredentials:
    """The live sessions by access key id (the invoke side's `Credentials`)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def issue(self, role_arn: str, function_arn: str) -> tuple[str, dict[str, str]]:
        key_id = "ASIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))  # 20 characters, as AWS's
        secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
        token = secrets.token_urlsafe(96)
        self._sessions[key_id] = Session(secret, token, Principal(key_id, "role", role_arn, function_arn))
        return key_id, {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}

    def revoke(self, key_id: str) -> None:
        self._sessions.pop(key_id, None)

    def get(self, key_id: str) -> Session | None:
        return self._sessions.get(key_id)

    def __len__(self) -> int:
        return len(self._sessions)
