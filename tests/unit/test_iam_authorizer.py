"""Role credentials (auth/sessions.py) through the SigV4 verifier, the IamAuthorizer, the Lambda route table."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stratus.auth.authorizer import IamAuthorizer, UnknownManagedPolicy
from stratus.auth.errors import AccessDeniedException, UnrecognizedClientException
from stratus.auth.principal import Principal
from stratus.auth.routes import LambdaRoutes
from stratus.auth.sessions import SessionCredentials
from stratus.auth.sigv4 import Verifier

from .test_sigv4 import KEYS, as_received, verify

ROLE = "arn:aws:iam::000000000000:role/whatever"
FN_A = "arn:aws:lambda:us-east-1:000000000000:function:a"
FN_B = "arn:aws:lambda:us-east-1:000000000000:function:b"
URL = "http://127.0.0.1:8421/2015-03-31/functions/b/configuration"


def session() -> tuple[SessionCredentials, str, dict[str, str]]:
    sessions = SessionCredentials()
    key_id, variables = sessions.issue(ROLE, FN_A)
    return sessions, key_id, variables


def signed_with(variables: dict[str, str], token: str | None) -> AWSRequest:
    request = AWSRequest(method="GET", url=URL, data=b"")
    credentials = Credentials(variables["AWS_ACCESS_KEY_ID"], variables["AWS_SECRET_ACCESS_KEY"], token)
    SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    return request


def test_issued_credentials_look_like_aws() -> None:
    _, key_id, variables = session()
    assert key_id.startswith("ASIA") and len(key_id) == 20 and key_id.isalnum()
    assert variables["AWS_ACCESS_KEY_ID"] == key_id
    assert len(variables["AWS_SECRET_ACCESS_KEY"]) == 40 and variables["AWS_SESSION_TOKEN"]
    assert session()[1] != key_id


def test_session_credentials_verify_as_the_role() -> None:
    sessions, key_id, variables = session()
    principal = verify(Verifier(KEYS, sessions=sessions), signed_with(variables, variables["AWS_SESSION_TOKEN"]))
    assert principal == Principal(key_id, "role", ROLE, FN_A)
    # A one-letter function's session is <name>@lambda_function (AWS's recorded answers).
    assert principal.session_arn() == "arn:aws:sts::000000000000:assumed-role/whatever/a@lambda_function"


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_session_credentials_need_their_token(token: str | None) -> None:
    sessions, _, variables = session()
    with pytest.raises(UnrecognizedClientException):
        verify(Verifier(KEYS, sessions=sessions), signed_with(variables, token))


def test_revoked_credentials_are_refused() -> None:
    sessions, key_id, variables = session()
    verifier = Verifier(KEYS, sessions=sessions)
    sessions.revoke(key_id)
    with pytest.raises(UnrecognizedClientException):
        verify(verifier, signed_with(variables, variables["AWS_SESSION_TOKEN"]))
    assert len(sessions) == 0


def test_presigned_with_session_token() -> None:
    sessions, key_id, variables = session()
    request = AWSRequest(method="GET", url=URL, data=b"")
    SigV4QueryAuth(Credentials(key_id, variables["AWS_SECRET_ACCESS_KEY"], variables["AWS_SESSION_TOKEN"]),
                   "lambda", "us-east-1", expires=60).add_auth(request)
    assert verify(Verifier(KEYS, sessions=sessions), request).role_arn == ROLE
    forged = request.url.replace("X-Amz-Security-Token=", "X-Amz-Security-Token=x")
    method, path, query, headers, _ = as_received(AWSRequest(method="GET", url=forged))
    with pytest.raises(UnrecognizedClientException):
        Verifier(KEYS, sessions=sessions).begin(method, path, query, headers, "lambda")


def test_session_keys_unknown_without_sessions() -> None:
    _, _, variables = session()
    with pytest.raises(UnrecognizedClientException):
        verify(Verifier(KEYS), signed_with(variables, variables["AWS_SESSION_TOKEN"]))


class Roles:
    def __init__(self, policies: dict[str, list[dict[str, Any]]]):
        self.policies = policies

    def policies_for_role(self, role_arn: str) -> list[dict[str, Any]] | None:
        return self.policies.get(role_arn)


ROLE_PRINCIPAL = Principal("ASIAEXAMPLE", "role", ROLE, FN_A)


def denied(authorizer: IamAuthorizer, action: str, resource: str = FN_B) -> str:
    with pytest.raises(AccessDeniedException) as caught:
        authorizer.authorize(ROLE_PRINCIPAL, action, resource)
    assert caught.value.status == 403
    return caught.value.message


def test_admin_may_do_everything() -> None:
    IamAuthorizer().authorize(Principal("AKID"), "lambda:DeleteFunction", FN_B)


def test_unknown_role_without_policy_may_do_nothing() -> None:
    message = denied(IamAuthorizer(), "lambda:GetFunctionConfiguration")
    assert message == ("User: arn:aws:sts::000000000000:assumed-role/whatever/a@lambda_function is not authorized "
                       f"to perform: lambda:GetFunctionConfiguration on resource: {FN_B} because no identity-based "
                       "policy allows the lambda:GetFunctionConfiguration action")
    denied(IamAuthorizer(), "lambda:InvokeFunction")


def test_unknown_role_policy() -> None:
    authorizer = IamAuthorizer(unknown_role_policy="AWSLambdaRole")
    authorizer.authorize(ROLE_PRINCIPAL, "lambda:InvokeFunction", FN_B)
    denied(authorizer, "lambda:GetFunctionConfiguration")
    denied(authorizer, "lambda:DeleteFunction")
    with pytest.raises(UnknownManagedPolicy):
        IamAuthorizer(unknown_role_policy="AdministratorAccessPlease")


def test_known_role_uses_its_policies_not_the_unknown_role_policy() -> None:
    roles = Roles({ROLE: [{"Statement": [{"Effect": "Allow", "Action": "lambda:Get*", "Resource": FN_B}]}]})
    authorizer = IamAuthorizer(roles, unknown_role_policy="AWSLambda_FullAccess")
    authorizer.authorize(ROLE_PRINCIPAL, "lambda:GetFunctionConfiguration", FN_B)
    denied(authorizer, "lambda:GetFunctionConfiguration", FN_A)
    denied(authorizer, "lambda:InvokeFunction")


def test_explicit_deny_message() -> None:
    roles = Roles({ROLE: [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                         {"Effect": "Deny", "Action": "lambda:Delete*", "Resource": "*"}]}]})
    assert denied(IamAuthorizer(roles), "lambda:DeleteFunction").endswith(
        "with an explicit deny in an identity-based policy")


def test_resource_policy_allows_invoke_only() -> None:
    statements = {FN_B: [{"Sid": "s", "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "lambda:InvokeFunction",
                          "Resource": FN_B}]}
    authorizer = IamAuthorizer(resource_statements=lambda arn: statements.get(arn, []))
    authorizer.authorize(ROLE_PRINCIPAL, "lambda:InvokeFunction", FN_B)
    denied(authorizer, "lambda:InvokeFunction", FN_A)
    statements[FN_B][0]["Action"] = "lambda:*"
    denied(authorizer, "lambda:GetFunctionConfiguration")  # only invocations consult the function's policy
    statements[FN_B][0]["Principal"] = {"AWS": "arn:aws:iam::111111111111:root"}
    denied(authorizer, "lambda:InvokeFunction")
    statements[FN_B][0]["Principal"] = {"Service": "sns.amazonaws.com"}
    denied(authorizer, "lambda:InvokeFunction")


def test_resource_policy_cannot_override_an_explicit_deny() -> None:
    roles = Roles({ROLE: [{"Statement": [{"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}]}]})
    everyone = [{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": FN_B}]
    denied(IamAuthorizer(roles, resource_statements=lambda arn: everyone), "lambda:InvokeFunction")


CSC = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"
CAPACITY_PROVIDER = "arn:aws:lambda:us-east-1:000000000000:capacity-provider:cp"


@pytest.fixture(scope="module")
def routes() -> LambdaRoutes:
    return LambdaRoutes("us-east-1", "000000000000")


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/2015-03-31/functions/b/configuration", "", ("lambda:GetFunctionConfiguration", FN_B)),
    ("PUT", "/2015-03-31/functions/b/configuration", "", ("lambda:UpdateFunctionConfiguration", FN_B)),
    ("DELETE", "/2015-03-31/functions/b", "", ("lambda:DeleteFunction", FN_B)),
    ("DELETE", "/2015-03-31/functions/b", "Qualifier=1", ("lambda:DeleteFunction", FN_B + ":1")),
    ("POST", "/2015-03-31/functions/b/invocations", "", ("lambda:InvokeFunction", FN_B)),
    ("POST", f"/2015-03-31/functions/{FN_B}:prod/invocations", "", ("lambda:InvokeFunction", FN_B + ":prod")),
    ("POST", "/2015-03-31/functions/000000000000:function:b/invocations", "", ("lambda:InvokeFunction", FN_B)),
    ("POST", "/2015-03-31/functions/b:live/invocations", "", ("lambda:InvokeFunction", FN_B + ":live")),
    ("GET", "/2015-03-31/functions/", "", ("lambda:ListFunctions", "*")),
    ("POST", "/2015-03-31/functions", "", ("lambda:CreateFunction", "*")),
    ("GET", "/2018-10-31/layers", "", ("lambda:ListLayers", "*")),
    ("GET", "/2018-10-31/layers", "find=LayerVersion&Arn=x", ("lambda:GetLayerVersionByArn", "*")),
    ("GET", "/2019-09-30/functions/b/provisioned-concurrency", "List=ALL",
     ("lambda:ListProvisionedConcurrencyConfigs", FN_B)),
    ("GET", "/2019-09-30/functions/b/provisioned-concurrency", "Qualifier=1",
     ("lambda:GetProvisionedConcurrencyConfig", FN_B + ":1")),
    ("POST", "/2015-03-31/functions/b/policy", "", ("lambda:AddPermission", FN_B)),
    ("DELETE", "/2015-03-31/functions/b/policy/sid", "", ("lambda:RemovePermission", FN_B)),
    ("POST", "/2020-04-22/code-signing-configs", "", ("lambda:CreateCodeSigningConfig", "*")),
    ("GET", f"/2020-04-22/code-signing-configs/{CSC}", "", ("lambda:GetCodeSigningConfig", CSC)),
    ("GET", f"/2020-04-22/code-signing-configs/{CSC}/functions", "",
     ("lambda:ListFunctionsByCodeSigningConfig", CSC)),
    ("PUT", "/2020-06-30/functions/b/code-signing-config", "", ("lambda:PutFunctionCodeSigningConfig", FN_B)),
    ("DELETE", "/2025-11-30/capacity-providers/cp", "", ("lambda:DeleteCapacityProvider", CAPACITY_PROVIDER)),
    ("GET", f"/2025-11-30/capacity-providers/{CAPACITY_PROVIDER}/function-versions", "",
     ("lambda:ListFunctionVersionsByCapacityProvider", CAPACITY_PROVIDER)),
    ("PUT", "/2025-11-30/functions/b/function-scaling-config", "Qualifier=1",
     ("lambda:PutFunctionScalingConfig", FN_B + ":1")),
    ("GET", f"/2025-12-01/durable-executions/{FN_B}:1/durable-execution/run/abc/history", "",
     ("lambda:GetDurableExecutionHistory", FN_B + ":1")),
    ("POST", "/2025-12-01/durable-execution-callbacks/ab/c+d==/succeed", "",
     ("lambda:SendDurableExecutionCallbackSuccess", "*")),
    ("GET", "/2025-12-01/functions/b/durable-executions", "", ("lambda:ListDurableExecutionsByFunction", FN_B)),
    ("GET", "/nothing/here", "", None),
])
def test_routes(routes: LambdaRoutes, method: str, path: str, query: str, expected: tuple[str, str] | None) -> None:
    assert routes.resolve(method, path, query) == expected
