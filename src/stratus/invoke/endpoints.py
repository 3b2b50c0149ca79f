"""Where a function's AWS SDK calls go: `AWS_ENDPOINT_URL_<SERVICE>` variables, which current boto3 and
the AWS SDK for JavaScript v3 honour with no code change.

The services Stratus serves itself (Lambda, EventBridge, IAM, STS, CloudWatch Logs) point at Stratus as the function
reaches it (inside a namespaced environment: 127.0.0.1:<API port> in its own network namespace, served
by the server there); every service in STRATUS_SERVICE_ENDPOINTS points where that setting says ("*"
becomes AWS_ENDPOINT_URL, the SDKs' fallback for every service). A variable the function's own
Environment sets wins (AWS does not reserve these names).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from botocore import utils as botocore_utils

# boto3 client names of the services Stratus itself answers on its API port.
STRATUS_SERVICES = ("lambda", "events", "iam", "sts", "logs")


def variable_name(service: str) -> str:
    """The variable the SDKs read for `service` (a boto3 client name), spelled as botocore spells it:
    events → AWS_ENDPOINT_URL_EVENTBRIDGE, secretsmanager → AWS_ENDPOINT_URL_SECRETS_MANAGER."""
    name: str = botocore_utils.SERVICE_NAME_ALIASES.get(service, service)
    service_id: str = botocore_utils.CLIENT_NAME_TO_HYPHENIZED_SERVICE_ID_OVERRIDES.get(name, name)
    return "AWS_ENDPOINT_URL_" + service_id.replace("-", "_").replace(" ", "_").upper()


def endpoint_variables(stratus_url: str, services: dict[str, str]) -> dict[str, str]:
    """The variables for Stratus's own services at `stratus_url` and for `services` ({name or "*": URL},
    STRATUS_SERVICE_ENDPOINTS); a service named there explicitly is pointed where it says."""
    variables = {variable_name(service): stratus_url for service in STRATUS_SERVICES}
    for service, url in services.items():
        if service == "*":
            variables["AWS_ENDPOINT_URL"] = url
        else:
            variables[variable_name(service)] = url
    return variables


def loopback_ports(services: dict[str, str]) -> tuple[int, ...]:
    """The ports of the endpoints on this host's loopback (127.0.0.0/8, localhost, [::1]), which a
    namespaced function's outbound network must forward to reach them."""
    ports: set[int] = set()
    for url in services.values():
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        host = parts.hostname or ""
        if host == "localhost" or host == "::1" or host.startswith("127."):
            ports.add(port)
    return tuple(sorted(ports))
