"""Fast tests of the rules that need no server."""

import io
import os
import stat
import zipfile

import pytest

from stratus.api.validation import validate
from stratus.control.function_rules import check_runtime
from stratus.control.names import Arns, ForeignAccountException
from stratus.errors import InvalidParameterValueException, ResourceNotFoundException, ValidationException
from stratus.invoke.runtime_handlers import sanitize_error_type
from stratus.observe.logs import billed_duration_ms, report_line
from stratus.sandbox import exit_description
from stratus.store.blobs import BadZip, BlobStore, zip_unpacked_size


def test_model_validation_uses_aws_wording():
    with pytest.raises(ValidationException) as raised:
        validate("CreateFunction", {"FunctionName": "bad name!", "Role": "arn:aws:iam::000000000000:role/x",
                                    "Code": {}, "MemorySize": 64})
    message = raised.value.message
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy regular " \
           "expression pattern" in message
    assert "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or " \
           "equal to 128" in message


def test_model_validation_checks_nested_and_enum_members():
    with pytest.raises(ValidationException) as raised:
        validate("CreateFunction", {"FunctionName": "ok", "Role": "arn:aws:iam::000000000000:role/x", "Code": {},
                                    "Runtime": "cobol", "Environment": {"Variables": {"1bad": "x"}}})
    # A function's Runtime is AWS's rule to check (its own error and words), not the model's enum.
    assert "at 'runtime'" not in raised.value.message
    assert "at 'environment.variables'" in raised.value.message
    validate("GetFunction", {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"})


@pytest.mark.parametrize("runtime,expected", [
    ("cobol", "Value cobol at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
              "[nodejs20.x, python3.14, "),
    ("PYTHON3.9", "Value PYTHON3.9 at 'runtime' failed to satisfy constraint"),
    ("python3.7", "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda "
                  "functions. We recommend you use a supported runtime while creating or updating functions."),
    ("provided", "The runtime parameter of provided is no longer supported"),
    ("java21", "The runtime parameter of java21 is not supported by Stratus."),
])
def test_runtimes_are_checked_as_aws_words_it(runtime, expected):
    with pytest.raises(InvalidParameterValueException) as raised:
        check_runtime(runtime)
    assert raised.value.message.startswith(expected)
    if runtime in ("cobol", "PYTHON3.9"):
        assert raised.value.message.endswith("provided.al2, java8.al2] or be a valid ARN")


@pytest.mark.parametrize("reference,expected", [
    ("fn", ("fn", None)),
    ("fn:$LATEST", ("fn", "$LATEST")),
    ("000000000000:function:fn", ("fn", None)),
    ("arn:aws:lambda:us-east-1:000000000000:function:fn", ("fn", None)),
    ("arn:aws:lambda:us-east-1:000000000000:function:fn:prod", ("fn", "prod")),
])
def test_function_references_resolve(reference, expected):
    assert Arns("us-east-1", "000000000000").resolve(reference) == expected


def test_foreign_region_is_unreachable_foreign_account_denied_and_qualifiers_must_agree():
    arns = Arns("us-east-1", "000000000000")
    with pytest.raises(ResourceNotFoundException, match=r"^Functions from 'eu-west-1' are not reachable in this "
                                                        r"region \('us-east-1'\)$"):
        arns.resolve("arn:aws:lambda:eu-west-1:000000000000:function:fn")
    with pytest.raises(ForeignAccountException) as denied:
        arns.resolve("123456789012:function:fn")
    assert (denied.value.status, denied.value.error_type, denied.value.body()) == (
        403, "AccessDeniedException", b'{"Message":null}')
    with pytest.raises(InvalidParameterValueException):
        arns.resolve("fn:1", "2")


@pytest.mark.parametrize("value,expected", [
    ("Runtime.ImportModuleError", "Runtime.ImportModuleError"),
    ("Function.MyError", "Function.MyError"),
    ("Function.", "Function.Unknown"),
    ("ValueError", "Runtime.Unknown"),
    ("Unhandled", "Runtime.Unknown"),
    (None, "Runtime.Unknown"),
])
def test_error_types_are_sanitized_like_aws(value, expected):
    assert sanitize_error_type(value) == expected


def test_report_line_and_billing():
    assert billed_duration_ms(0.2) == 1 and billed_duration_ms(1.01) == 2 and billed_duration_ms(3.0) == 3
    line = report_line("rid", 1.234, 128, 20, 55.5).decode()
    assert line == ("REPORT RequestId: rid\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
                    "Max Memory Used: 20 MB\tInit Duration: 55.50 ms\t\n")
    assert "Init Duration" not in report_line("rid", 1.0, 128, 20, None).decode()


def test_exit_descriptions_use_go_wording():
    assert exit_description(1) == "exit status 1"
    assert exit_description(-9) == "signal: killed"
    assert exit_description(-11) == "signal: segmentation fault"


def _zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = (mode | 0o100000) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def test_blobs_are_content_addressed_and_keep_exec_bits(tmp_path):
    blobs = BlobStore(tmp_path / "blobs", tmp_path / "code")
    data = _zip([("bootstrap", "#!/bin/sh\n", 0o755), ("lib/data.txt", "x", 0o644)])
    sha = blobs.put(data)
    assert blobs.put(data) == sha and blobs.read(sha) == data
    root = blobs.unpacked(sha)
    assert os.stat(root / "bootstrap").st_mode & stat.S_IXUSR
    assert not os.stat(root / "lib" / "data.txt").st_mode & stat.S_IXUSR
    assert blobs.unpacked(sha) == root


def test_zip_that_escapes_or_is_not_a_zip_is_refused(tmp_path):
    with pytest.raises(BadZip):
        zip_unpacked_size(b"not a zip")
    blobs = BlobStore(tmp_path / "blobs", tmp_path / "code")
    with pytest.raises(BadZip):
        blobs.store(_zip([("../evil.py", "x", 0o644)]))
    assert not (tmp_path / "evil.py").exists()
    assert os.listdir(tmp_path / "blobs") == [] and os.listdir(tmp_path / "code") == []  # nothing stored
