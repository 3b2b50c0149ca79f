"""The Authenticator a server starts with, from its settings (STRATUS_AUTH, STRATUS_ACCESS_KEYS, the data dir)."""

from __future__ import annotations

from stratus.auth.authorizer import IamAuthorizer, RolePolicySource, UnknownManagedPolicy
from stratus.auth.gate import Authenticator
from stratus.auth.keys import PROFILE, AccessKeyError, load_or_create_credentials, parse_access_keys
from stratus.auth.routes import LambdaRoutes
from stratus.auth.sessions import SessionCredentials
from stratus.auth.sigv4 import Verifier
from stratus.config import Settings, is_loopback_host


def build_authenticator(settings: Settings, roles: RolePolicySource | None = None) -> tuple[Authenticator, str]:
    """(the Authenticator, one line for the start-up log). Raises AccessKeyError with a one-line reason.

    With SigV4 on, functions' environments get role credentials (`Authenticator.sessions`), authorized
    by `roles`' policies per operation."""
    mode = settings.auth.strip().lower()
    if mode == "off":
        if not is_loopback_host(settings.host):
            raise AccessKeyError(f"STRATUS_AUTH=off is refused: the server would listen on {settings.host}, beyond "
                                 "loopback (listen on 127.0.0.1, or keep STRATUS_AUTH=sigv4)")
        return Authenticator(None, settings.region, account_id=settings.account_id), (
            "authentication is OFF (STRATUS_AUTH=off): every local process can administer Stratus")
    if mode != "sigv4":
        raise AccessKeyError(f"STRATUS_AUTH must be 'sigv4' or 'off', not '{settings.auth}'")
    if settings.access_keys.strip():
        keys = parse_access_keys(settings.access_keys)
        note = f"SigV4 authentication with the {len(keys)} access key(s) of STRATUS_ACCESS_KEYS"
    else:
        path = settings.credentials_path
        keys, created = load_or_create_credentials(path)
        note = (f"SigV4 authentication: admin credentials {'created in' if created else 'in'} {path} "
                f"(AWS_SHARED_CREDENTIALS_FILE={path} AWS_PROFILE={PROFILE})")
    try:
        authorizer = IamAuthorizer(roles, settings.unknown_role_policy)
    except UnknownManagedPolicy as error:
        raise AccessKeyError(str(error)) from None
    sessions = SessionCredentials()
    authenticator = Authenticator(Verifier(keys, sessions=sessions), settings.region, authorizer,
                                  LambdaRoutes(settings.region, settings.account_id), settings.account_id)
    authenticator.sessions = sessions
    return authenticator, note
