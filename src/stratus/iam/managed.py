"""The AWS managed policies Lambda users attach to execution roles, with AWS's statements.

Sources: the AWS Managed Policy Reference (docs.aws.amazon.com/aws-managed-policy/latest/reference/<name>.html).
AWSLambda_FullAccess keeps only its Lambda-relevant statements (lambda:*, iam:PassRole to Lambda, the Lambda
log groups); the console helper actions of other services it also grants are left out.
"""

from __future__ import annotations

from typing import Any

_LOG_READ = ["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery",
             "logs:StopQuery", "logs:DescribeQueries", "logs:GetLogGroupFields", "logs:GetLogRecord",
             "logs:GetQueryResults", "logs:StartLiveTail", "logs:StopLiveTail"]
_LAMBDA_LOG_GROUPS = "arn:aws:logs:*:*:log-group:/aws/lambda/*"
_LOGS_WRITE = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "AWSLambdaBasicExecutionRole": _doc(
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"}),
    "AWSLambdaRole": _doc({"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": ["*"]}),
    "AWSLambda_ReadOnlyAccess": _doc(
        {"Effect": "Allow", "Action": [
            "cloudformation:DescribeStacks", "cloudformation:ListStacks", "cloudformation:ListStackResources",
            "cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
            "ec2:DescribeVpcs", "kms:ListAliases", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole",
            "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListRoles",
            "logs:DescribeLogGroups", "lambda:Get*", "lambda:List*", "states:DescribeStateMachine",
            "states:ListStateMachines", "tag:GetResources", "xray:GetTraceSummaries", "xray:BatchGetTraces"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": _LOG_READ, "Resource": _LAMBDA_LOG_GROUPS}),
    "AWSLambda_FullAccess": _doc(  # the Lambda statements (see the module's note)
        {"Effect": "Allow", "Action": ["lambda:*", "logs:DescribeLogGroups", "iam:GetRole", "iam:GetRolePolicy",
                                       "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListRoles"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
        {"Effect": "Allow", "Action": _LOG_READ, "Resource": _LAMBDA_LOG_GROUPS}),
    "AWSXrayWriteOnlyAccess": _doc(
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                                       "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"],
         "Resource": ["*"]}),
    "AmazonSQSFullAccess": _doc({"Effect": "Allow", "Action": ["sqs:*"], "Resource": "*"}),
    # The policies SAM attaches to the roles it generates (event sources, VpcConfig, Tracing,
    # DeploymentPreference), with AWS's statements.
    "AWSLambdaSQSQueueExecutionRole": _doc(
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                       *_LOGS_WRITE], "Resource": "*"}),
    "AWSLambdaKinesisExecutionRole": _doc(
        {"Effect": "Allow", "Action": ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                                       "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:ListStreams",
                                       "kinesis:SubscribeToShard", *_LOGS_WRITE], "Resource": "*"}),
    "AWSLambdaDynamoDBExecutionRole": _doc(
        {"Effect": "Allow", "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                                       "dynamodb:ListStreams", *_LOGS_WRITE], "Resource": "*"}),
    "AWSLambdaVPCAccessExecutionRole": _doc(
        {"Effect": "Allow", "Action": [*_LOGS_WRITE, "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                       "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
                                       "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
         "Resource": "*"}),
    "AWSXRayDaemonWriteAccess": _doc(
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                                       "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"],
         "Resource": ["*"]}),
    "AWSCodeDeployRoleForLambda": _doc(
        {"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms", "lambda:UpdateAlias", "lambda:GetAlias",
                                       "lambda:GetProvisionedConcurrencyConfig", "sns:Publish"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": "arn:aws:s3:::*/CodeDeploy/*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": "*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/UseWithCodeDeploy": "true"}}},
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": "arn:aws:lambda:*:*:function:CodeDeployHook_*"}),
}

# Under arn:aws:iam::aws:policy/service-role/ (AWS's paths for these names).
_SERVICE_ROLE = {"AWSLambdaBasicExecutionRole", "AWSLambdaRole", "AWSLambdaSQSQueueExecutionRole",
                 "AWSLambdaKinesisExecutionRole", "AWSLambdaDynamoDBExecutionRole", "AWSLambdaVPCAccessExecutionRole",
                 "AWSCodeDeployRoleForLambda"}


def managed_policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{'service-role/' if name in _SERVICE_ROLE else ''}{name}"


def managed_policy_by_arn(arn: str) -> dict[str, Any] | None:
    """The document of an AWS managed policy's ARN, or None."""
    name = arn.rsplit("/", 1)[-1]
    return MANAGED_POLICIES.get(name) if managed_policy_arn(name) == arn else None
