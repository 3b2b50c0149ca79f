"""The AWS managed policies Lambda users attach to their functions' roles (name -> policy document)."""

from __future__ import annotations

MANAGED_POLICIES: dict[str, dict] = {
    "AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                                     "logs:PutLogEvents"], "Resource": "*"}],
    },
    "AWSLambdaRole": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": ["*"]}],
    },
}


def managed_policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/service-role/{name}"
