"""IamService.policies_for_role: a role's inline and attached managed documents, None for an unknown role;
what the authorizer sees survives a reload from the store."""

from __future__ import annotations

import asyncio
import json

import pytest

from stratus.iam.managed import MANAGED_POLICIES, managed_policy_arn
from stratus.iam.service import IamService, MalformedPolicyDocument, NoSuchEntity
from stratus.store.sqlite import SqliteStore

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
INLINE = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}]}


def test_policies_for_role(tmp_path):
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "db.sqlite")
        await store.open()
        iam = IamService(store, "123456789012")
        role = await iam.create_role({"RoleName": "fn", "Path": "/app/", "AssumeRolePolicyDocument": TRUST})
        assert role["Arn"] == "arn:aws:iam::123456789012:role/app/fn"
        assert iam.policies_for_role(role["Arn"]) == []
        assert iam.policies_for_role("arn:aws:iam::123456789012:role/fn") is None  # the path is part of the ARN
        await iam.put_role_policy({"RoleName": "fn", "PolicyName": "deny", "PolicyDocument": json.dumps(INLINE)})
        await iam.attach_role_policy("fn", managed_policy_arn("AWSLambdaBasicExecutionRole"))
        expected = [INLINE, MANAGED_POLICIES["AWSLambdaBasicExecutionRole"]]
        assert iam.policies_for_role(role["Arn"]) == expected
        with pytest.raises(MalformedPolicyDocument):
            await iam.put_role_policy({"RoleName": "fn", "PolicyName": "bad", "PolicyDocument": "{"})
        with pytest.raises(NoSuchEntity):
            await iam.attach_role_policy("fn", "arn:aws:iam::aws:policy/NotAManagedPolicyHere")
        assert iam.policies_for_role(role["Arn"]) == expected
        await store.close()
        store = SqliteStore(tmp_path / "db.sqlite")
        await store.open()
        reloaded = IamService(store, "123456789012")
        await reloaded.load()
        assert reloaded.policies_for_role(role["Arn"]) == expected
        await store.close()

    asyncio.run(scenario())


def test_managed_policies_are_real():
    basic = MANAGED_POLICIES["AWSLambdaBasicExecutionRole"]["Statement"][0]
    assert sorted(basic["Action"]) == ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    assert managed_policy_arn("AWSLambdaRole") == "arn:aws:iam::aws:policy/service-role/AWSLambdaRole"
