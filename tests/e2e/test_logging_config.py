"""LoggingConfig through the API (issue 12): stored, defaulted and merged as AWS's recorded answers show,
refused with AWS's errors, handed to the function's environment, and a custom LogGroup is where the
logs go (the log tail and the stored log files)."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from tests.support.environments import function_log, group_log, wait_for_group_log, wait_for_log
from tests.support.server import HOST_PYTHON_RUNTIME, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ENV_APP = make_zip({"app.py": """
import os
def handler(event, context):
    print("marker", event.get("n"))
    return {name: os.environ.get(name) for name in
            ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_GROUP_NAME")} | {
            "context_group": context.log_group_name}
"""})


def create(lam, name, **extra):
    return lam.create_function(FunctionName=name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler", Role=ROLE,
                               Code={"ZipFile": ENV_APP}, **extra)


def logging_config(lam, name):
    configuration = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert lam.get_function(FunctionName=name)["Configuration"]["LoggingConfig"] == configuration
    return configuration


def test_defaults_and_json_levels(lam, fn_name):
    assert create(lam, fn_name)["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{fn_name}"}
    assert create(lam, fn_name + "-json", LoggingConfig={"LogFormat": "JSON"})["LoggingConfig"] == {
        "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{fn_name}-json"}
    full = {"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "SystemLogLevel": "DEBUG", "LogGroup": "cool_lambda"}
    assert create(lam, fn_name + "-full", LoggingConfig=full)["LoggingConfig"] == full
    assert logging_config(lam, fn_name + "-full") == full


def test_updates_change_only_what_they_name(lam, fn_name):
    """The sequences LocalStack recorded against AWS (test_lambda_api.py TestLoggingConfig)."""
    create(lam, fn_name)
    group = f"/aws/lambda/{fn_name}"
    steps = [
        ({"LogFormat": "JSON"}, {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                                 "LogGroup": group}),
        ({"ApplicationLogLevel": "DEBUG"}, {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG",
                                            "SystemLogLevel": "INFO", "LogGroup": group}),
        ({"LogGroup": "cool_lambda"}, {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "INFO",
                                       "LogGroup": "cool_lambda"}),
        ({"LogFormat": "Text"}, {"LogFormat": "Text", "LogGroup": "cool_lambda"}),  # the levels go
        ({"LogFormat": "JSON", "SystemLogLevel": "WARN"}, {"LogFormat": "JSON", "ApplicationLogLevel": "INFO",
                                                          "SystemLogLevel": "WARN", "LogGroup": "cool_lambda"}),
    ]
    for request, expected in steps:
        assert lam.update_function_configuration(FunctionName=fn_name, LoggingConfig=request)["LoggingConfig"] \
            == expected, request
        assert logging_config(lam, fn_name) == expected
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    assert lam.get_function_configuration(FunctionName=fn_name, Qualifier=version)["LoggingConfig"] == expected
    lam.update_function_configuration(FunctionName=fn_name, Description="other change")
    assert logging_config(lam, fn_name) == expected


@pytest.mark.parametrize("config, error, message", [
    ({"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}, "InvalidParameterValueException",
     'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request or change the '
     'LogFormat to "JSON" and try again.'),
    ({"SystemLogLevel": "WARN"}, "InvalidParameterValueException", "LogLevel is not supported"),
    ({"LogFormat": "XML"}, "ValidationException",
     "1 validation error detected: Value 'XML' at 'loggingConfig.logFormat' failed to satisfy constraint: "
     "Member must satisfy enum value set: [JSON, Text]"),
    ({"LogFormat": "JSON", "ApplicationLogLevel": "VERBOSE"}, "ValidationException",
     "at 'loggingConfig.applicationLogLevel' failed to satisfy constraint: Member must satisfy enum value set"),
    ({"LogFormat": "JSON", "SystemLogLevel": "ERROR"}, "ValidationException",
     "Member must satisfy enum value set: [DEBUG, INFO, WARN]"),
    ({"LogGroup": "bad group!"}, "ValidationException",
     "at 'loggingConfig.logGroup' failed to satisfy constraint: Member must satisfy regular expression pattern"),
])
def test_bad_logging_config_is_refused_as_aws_does(lam, fn_name, config, error, message):
    with pytest.raises(ClientError) as refused:
        create(lam, fn_name, LoggingConfig=config)
    assert refused.value.response["Error"]["Code"] == error
    assert message in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=fn_name)  # nothing was created
    create(lam, fn_name)
    with pytest.raises(ClientError) as refused:
        lam.update_function_configuration(FunctionName=fn_name, LoggingConfig=config)
    assert refused.value.response["Error"]["Code"] == error
    assert logging_config(lam, fn_name) == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{fn_name}"}


def test_environment_variables_follow_the_config(lam, fn_name):
    create(lam, fn_name)
    assert invoke_json(lam, fn_name, {})[1] == {
        "AWS_LAMBDA_LOG_FORMAT": None, "AWS_LAMBDA_LOG_LEVEL": None,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn_name}", "context_group": f"/aws/lambda/{fn_name}"}
    lam.update_function_configuration(FunctionName=fn_name, LoggingConfig={
        "LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "LogGroup": "/team/shared"})
    assert invoke_json(lam, fn_name, {})[1] == {
        "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/team/shared", "context_group": "/team/shared"}


def test_custom_log_group_receives_the_logs(server, lam, fn_name):
    group = f"/custom/{fn_name}"
    for name in (fn_name, fn_name + "-b"):  # two functions may share a group, as on AWS
        create(lam, name, LoggingConfig={"LogGroup": group})
    response, _ = invoke_json(lam, fn_name, {"n": "first"}, LogType="Tail")
    assert "marker first" in base64.b64decode(response["LogResult"]).decode()  # the tail is unchanged
    response, body = invoke_json(lam, fn_name + "-b", {"n": "second"}, LogType="Tail")
    assert body["AWS_LAMBDA_LOG_GROUP_NAME"] == group
    assert "marker second" in base64.b64decode(response["LogResult"]).decode()
    log = wait_for_group_log(server, group, "marker second")
    assert "marker first" in log and "marker second" in log and "START RequestId: " in log
    assert function_log(server, fn_name) == ""  # nothing in the default group's folder

    lam.update_function_configuration(FunctionName=fn_name, LoggingConfig={"LogGroup": f"/aws/lambda/{fn_name}"})
    invoke_json(lam, fn_name, {"n": "third"})
    assert "marker third" in wait_for_log(server, fn_name, "marker third")
    assert "marker third" not in group_log(server, group)


def test_json_tail_of_a_custom_group_function(lam, fn_name):
    create(lam, fn_name, LoggingConfig={"LogFormat": "JSON", "LogGroup": "grp"})
    response, body = invoke_json(lam, fn_name, {"n": 1}, LogType="Tail")
    assert body["AWS_LAMBDA_LOG_GROUP_NAME"] == "grp"
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    assert [json.loads(line)["type"] for line in (lines[0], lines[-1])] == ["platform.start", "platform.report"]
    assert lines[1:-1] == ["marker 1"]  # a print, INFO, kept at the default ApplicationLogLevel INFO
