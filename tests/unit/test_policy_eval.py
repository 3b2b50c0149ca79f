"""IAM policy evaluation (auth/policy_eval.py) and the AWS managed policies (iam/managed.py)."""

from __future__ import annotations

from typing import Any

import pytest

from stratus.auth.policy_eval import Decision, evaluate, glob_match
from stratus.iam.managed import MANAGED_POLICIES, managed_policy_arn, managed_policy_by_arn

FN = "arn:aws:lambda:us-east-1:000000000000:function:b"
A, D, N = Decision.ALLOW, Decision.DENY, Decision.IMPLICIT_DENY


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(*statements: dict[str, Any], action: str = "lambda:InvokeFunction", resource: str = FN,
           context: dict[str, Any] | None = None) -> Decision:
    return evaluate([doc(*statements)], action, resource, context)


@pytest.mark.parametrize(("glob", "value", "ok"), [
    ("*", "", True), ("*", "anything", True), ("a?c", "abc", True), ("a?c", "ac", False),
    ("lambda:Get*", "lambda:GetFunction", True), ("lambda:Get*", "lambda:ListFunctions", False),
    ("a.b", "aXb", False), ("a+b", "a+b", True), ("arn:*:function:b", FN, True), ("x*y*z", "xayyz", True),
])
def test_glob(glob: str, value: str, ok: bool) -> None:
    assert glob_match(glob, value) is ok


def test_default_deny() -> None:
    assert evaluate([], "lambda:InvokeFunction", FN) is N
    assert decide() is N
    assert evaluate([{"Version": "2012-10-17"}], "lambda:InvokeFunction", FN) is N


def test_allow_by_action_list_and_wildcards() -> None:
    assert decide(allow(["lambda:InvokeFunction"])) is A
    assert decide(allow("lambda:*")) is A
    assert decide(allow("*")) is A
    assert decide(allow("lambda:Invoke*")) is A
    assert decide(allow("lambda:GetFunction")) is N
    assert decide(allow("s3:*")) is N


def test_action_case_insensitive_resource_case_sensitive() -> None:
    assert decide(allow("LAMBDA:invokefunction")) is A
    assert decide(allow("*", FN.upper())) is N


def test_resource_match() -> None:
    assert decide(allow("*", FN)) is A
    assert decide(allow("*", [FN + ":*", FN])) is A
    assert decide(allow("*", "arn:aws:lambda:*:*:function:b")) is A
    assert decide(allow("*", "arn:aws:lambda:*:*:function:c")) is N
    assert decide(allow("*", "arn:aws:lambda:*:*:function:b*"), resource=FN + ":prod") is A


def test_explicit_deny_wins() -> None:
    assert decide(allow(), deny("lambda:InvokeFunction")) is D
    assert decide(deny("lambda:InvokeFunction"), allow()) is D
    assert evaluate([doc(allow()), doc(deny("*", FN))], "lambda:InvokeFunction", FN) is D
    assert decide(allow(), deny("lambda:Delete*")) is A


def test_not_action() -> None:
    assert decide({"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}) is A
    assert decide({"Effect": "Allow", "NotAction": "lambda:Invoke*", "Resource": "*"}) is N
    assert decide(allow(), {"Effect": "Deny", "NotAction": ["lambda:Get*"], "Resource": "*"}) is D
    assert decide(allow(), {"Effect": "Deny", "NotAction": ["lambda:Get*"], "Resource": "*"},
                  action="lambda:GetFunction") is A


def test_not_resource() -> None:
    assert decide({"Effect": "Allow", "Action": "*", "NotResource": FN}) is N
    assert decide({"Effect": "Allow", "Action": "*", "NotResource": FN + "x"}) is A


def test_statement_without_action_or_effect_never_applies() -> None:
    assert decide({"Effect": "Allow", "Resource": "*"}) is N
    assert decide({"Action": "*", "Resource": "*"}) is N
    assert decide({"Effect": "allow", "Action": "*", "Resource": "*"}) is N  # Effect is case-sensitive


def test_single_statement_object() -> None:
    assert evaluate([{"Statement": allow()}], "x:y", "r") is A


@pytest.mark.parametrize(("operator", "expected", "value", "ok"), [
    ("StringEquals", "a", "a", True), ("StringEquals", "a", "A", False), ("StringEquals", ["x", "a"], "a", True),
    ("StringNotEquals", "a", "a", False), ("StringNotEquals", "a", "b", True),
    ("StringEqualsIgnoreCase", "a", "A", True), ("StringNotEqualsIgnoreCase", "a", "A", False),
    ("StringLike", "a*", "abc", True), ("StringLike", "a?", "abc", False),
    ("StringNotLike", "a*", "abc", False), ("StringNotLike", "b*", "abc", True),
    ("ArnEquals", FN, FN, True), ("ArnEquals", FN, FN + "x", False),
    ("ArnLike", "arn:aws:lambda:*:*:function:*", FN, True), ("ArnLike", "arn:aws:sqs:*:*:*", FN, False),
    ("ArnNotLike", "arn:aws:sqs:*:*:*", FN, True), ("ArnLike", "arn:*", "notanarn", False),
    ("Bool", "true", "true", True), ("Bool", "true", "True", True), ("Bool", "true", "false", False),
    ("NumericEquals", "10", "10", True), ("NumericEquals", "10", "10.0", True), ("NumericEquals", "10", "x", False),
    ("NumericNotEquals", "10", "11", True),
    ("NumericLessThan", "10", "9", True), ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericGreaterThan", "10", "11", True), ("NumericGreaterThan", "10", "10", False),
    ("NumericGreaterThanEquals", "10", "10", True),
    ("NoSuchOperator", "a", "a", False),
])
def test_condition_operators(operator: str, expected: Any, value: str, ok: bool) -> None:
    statement = allow(Condition={operator: {"aws:Key": expected}})
    assert (decide(statement, context={"aws:Key": value}) is A) is ok


def test_condition_key_missing() -> None:
    assert decide(allow(Condition={"StringEquals": {"aws:Key": "a"}})) is N
    assert decide(allow(Condition={"StringEqualsIfExists": {"aws:Key": "a"}})) is A
    assert decide(allow(Condition={"StringEqualsIfExists": {"aws:Key": "a"}}), context={"aws:Key": "b"}) is N
    assert decide(allow(Condition={"StringEqualsIfExists": {"aws:Key": "a"}}), context={"aws:Key": "a"}) is A


def test_condition_keys_case_insensitive_and_all_must_hold() -> None:
    cond = {"StringEquals": {"aws:SourceAccount": "000000000000"}, "Bool": {"aws:SecureTransport": "true"}}
    ctx = {"AWS:sourceaccount": "000000000000", "aws:SecureTransport": "true"}
    assert decide(allow(Condition=cond), context=ctx) is A
    assert decide(allow(Condition=cond), context={**ctx, "aws:SecureTransport": "false"}) is N


def test_null_operator() -> None:
    assert decide(allow(Condition={"Null": {"aws:Key": "true"}})) is A
    assert decide(allow(Condition={"Null": {"aws:Key": "true"}}), context={"aws:Key": "x"}) is N
    assert decide(allow(Condition={"Null": {"aws:Key": "false"}}), context={"aws:Key": "x"}) is A


def test_set_qualifiers() -> None:
    any_of = allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}})
    all_of = allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})
    assert decide(any_of, context={"aws:TagKeys": ["a", "z"]}) is A
    assert decide(any_of, context={"aws:TagKeys": ["y", "z"]}) is N
    assert decide(all_of, context={"aws:TagKeys": ["a", "b"]}) is A
    assert decide(all_of, context={"aws:TagKeys": ["a", "z"]}) is N
    assert decide(all_of) is A  # ForAllValues holds for an absent key, as AWS


def test_deny_with_condition() -> None:
    statement = deny(Condition={"StringNotEquals": {"aws:SourceAccount": "000000000000"}})
    assert decide(allow(), statement, context={"aws:SourceAccount": "111111111111"}) is D
    assert decide(allow(), statement, context={"aws:SourceAccount": "000000000000"}) is A


def test_malformed_condition_does_not_apply() -> None:
    assert decide(allow(Condition="nope")) is N
    assert decide(allow(Condition={"StringEquals": "nope"})) is N


def test_managed_policy_arns() -> None:
    assert managed_policy_arn("AWSLambdaBasicExecutionRole") == \
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    assert managed_policy_arn("AWSLambdaRole") == "arn:aws:iam::aws:policy/service-role/AWSLambdaRole"
    assert managed_policy_arn("AWSLambda_ReadOnlyAccess") == "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess"
    assert managed_policy_arn("AmazonSQSFullAccess") == "arn:aws:iam::aws:policy/AmazonSQSFullAccess"
    role_policy = managed_policy_by_arn("arn:aws:iam::aws:policy/service-role/AWSLambdaRole")
    assert role_policy is MANAGED_POLICIES["AWSLambdaRole"]
    assert managed_policy_by_arn("arn:aws:iam::aws:policy/AWSLambdaRole") is None


@pytest.mark.parametrize(("name", "action", "decision"), [
    ("AWSLambdaRole", "lambda:InvokeFunction", A), ("AWSLambdaRole", "lambda:GetFunctionConfiguration", N),
    ("AWSLambda_ReadOnlyAccess", "lambda:GetFunctionConfiguration", A),
    ("AWSLambda_ReadOnlyAccess", "lambda:ListFunctions", A), ("AWSLambda_ReadOnlyAccess", "lambda:DeleteFunction", N),
    ("AWSLambda_ReadOnlyAccess", "lambda:InvokeFunction", N),
    ("AWSLambda_FullAccess", "lambda:DeleteFunction", A), ("AWSLambda_FullAccess", "sqs:SendMessage", N),
    ("AWSLambdaBasicExecutionRole", "logs:PutLogEvents", A),
    ("AWSLambdaBasicExecutionRole", "lambda:InvokeFunction", N),
    ("AWSXrayWriteOnlyAccess", "xray:PutTraceSegments", A), ("AmazonSQSFullAccess", "sqs:SendMessage", A),
    ("AmazonSQSFullAccess", "lambda:InvokeFunction", N),
])
def test_managed_policies(name: str, action: str, decision: Decision) -> None:
    assert evaluate([MANAGED_POLICIES[name]], action, FN) is decision


def test_full_access_pass_role_only_to_lambda() -> None:
    full = MANAGED_POLICIES["AWSLambda_FullAccess"]
    role = "arn:aws:iam::000000000000:role/r"
    assert evaluate([full], "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"}) is A
    assert evaluate([full], "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"}) is N
