"""Property test: whatever a caller sends to the control API, the answer is AWS-shaped — a 2xx, or a
4xx with x-amzn-ErrorType and a JSON message — never a 5xx or a stack trace, and a refused request
stores nothing."""

import http.client
import json
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratus.api.validation import service_model
from tests.support.server import make_zip
from tests.support.signing import signed_headers

ZIP_B64 = __import__("base64").b64encode(make_zip({"app.py": "def handler(e, c):\n    return 1\n"})).decode()

scalars = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=30)
values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                      | st.dictionaries(st.text(max_size=10), children, max_size=3), max_leaves=8)
FIELDS = ["FunctionName", "Runtime", "Role", "Handler", "Code", "Description", "Timeout", "MemorySize", "Publish",
          "Environment", "EphemeralStorage", "Architectures", "PackageType", "Layers", "TracingConfig", "Tags",
          "KMSKeyArn", "DeadLetterConfig", "VpcConfig", "RevisionId"]
plausible = {
    "FunctionName": st.sampled_from(["fuzzed", "fuzzed-1", "a" * 65, "bad name", ""]) | st.text(max_size=20),
    "Runtime": st.sampled_from(["python3.12", "nodejs20.x", "provided.al2023", "java21", "cobol"]),
    "Role": st.sampled_from(["arn:aws:iam::000000000000:role/x", "nope"]),
    "Handler": st.sampled_from(["app.handler", "", "x y"]),
    "Code": st.fixed_dictionaries({}, optional={"ZipFile": st.sampled_from([ZIP_B64, "!!", "", "UEsDBA=="]),
                                                "S3Bucket": st.text(max_size=5)}),
    "Timeout": st.integers(-5, 2000), "MemorySize": st.integers(0, 40000),
    "Environment": st.fixed_dictionaries({}, optional={"Variables": st.dictionaries(
        st.sampled_from(["OK_KEY", "AWS_REGION", "1bad", "x"]), st.text(max_size=50), max_size=3)}),
    "EphemeralStorage": st.fixed_dictionaries({}, optional={"Size": st.integers(0, 20000)}),
}
bodies = st.fixed_dictionaries({}, optional={field: plausible.get(field, values) for field in FIELDS}) | values


def call(server, method, path, body: bytes):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body,
                 headers=signed_headers(method, f"{server.endpoint}{path}", body, {"Content-Type": "application/json"}))
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("x-amzn-ErrorType"), data


def assert_aws_shaped(status, error_type, data):
    assert status < 500, (status, data[:300])
    assert b"Traceback" not in data
    if status >= 400:
        assert error_type, (status, data[:300])
        document = json.loads(data)
        assert document.get("message") or document.get("Message")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=bodies)
def test_create_and_update_answer_in_aws_shape(server, lam, body):
    raw = json.dumps(body).encode()
    status, error_type, data = call(server, "POST", "/2015-03-31/functions", raw)
    assert_aws_shaped(status, error_type, data)
    if status == 201:
        name = json.loads(data)["FunctionName"]
        lam.delete_function(FunctionName=name)
    else:
        listed = {f["FunctionName"] for f in lam.list_functions(MaxItems=1000)["Functions"]}
        assert not {"fuzzed", "fuzzed-1"} & listed, "a refused create stored something"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=bodies)
def test_update_configuration_answers_in_aws_shape_and_refusals_change_nothing(server, lam, body):
    name = "fuzz-target-" + server.sandbox
    try:
        before = lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": make_zip(
                                {"app.py": "def handler(e, c):\n    return 1\n"})})
        before = lam.get_function_configuration(FunctionName=name)
    status, error_type, data = call(server, "PUT", f"/2015-03-31/functions/{name}/configuration",
                                    json.dumps(body).encode())
    assert_aws_shaped(status, error_type, data)
    after = lam.get_function_configuration(FunctionName=name)
    if status >= 400:
        assert after["RevisionId"] == before["RevisionId"] and after["LastModified"] == before["LastModified"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(payload=st.binary(max_size=64) | values.map(lambda v: json.dumps(v).encode()),
       invocation_type=st.sampled_from([None, "RequestResponse", "Event", "DryRun", "Bogus", ""]),
       log_type=st.sampled_from([None, "None", "Tail", "Nope"]),
       client_context=st.sampled_from([None, "", "!!notbase64", "e30=", "bm90IGpzb24="]),
       qualifier=st.sampled_from([None, "$LATEST", "7", "", "bad qualifier"]))
def test_invoke_answers_in_aws_shape(server, lam, payload, invocation_type, log_type, client_context, qualifier):
    from urllib.parse import quote
    name = "fuzz-invoke-" + server.sandbox
    try:
        lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": make_zip(
                                {"app.py": "def handler(e, c):\n    return e\n"})})
    headers = {"X-Amz-Invocation-Type": invocation_type, "X-Amz-Log-Type": log_type,
               "X-Amz-Client-Context": client_context}
    path = f"/2015-03-31/functions/{name}/invocations"
    if qualifier is not None:
        path += "?Qualifier=" + quote(qualifier)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", path, body=payload, headers=signed_headers(
        "POST", f"{server.endpoint}{path}", payload, {k: v for k, v in headers.items() if v is not None}))
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert_aws_shaped(response.status, response.getheader("x-amzn-ErrorType"), data)
    assert response.status in (200, 202, 204, 400, 404, 413), (response.status, data[:200])


# ------------------------------------------------------------------ every operation, model-generated bad input
# Each Lambda operation of botocore's model gets requests built from its own input shape, with values
# that break it: wrong JSON types, strings past their max length or outside their enum, out-of-range
# numbers, JSON nested deeper than any parser's limit, and random bytes as the body. Path members never
# name an existing function, so nothing the other tests use is touched.
LAMBDA = service_model("lambda")
OPERATIONS = sorted(LAMBDA.operation_names)
wrong_types = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() \
    | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)


def deep(depth: int) -> object:
    value: object = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def bad_scalar(shape) -> st.SearchStrategy:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "string":
        longest = meta.get("max", 256)
        options = [st.text(max_size=40), st.just("x" * (longest + 1)),
                   st.sampled_from(["", " ", "\x00", "é" * 70, "../..", "*"])]
        if "enum" in meta:
            options.append(st.sampled_from([value.upper() + "_NOT" for value in meta["enum"][:3]]))
        return st.one_of(*options)
    if kind in ("integer", "long"):
        low, high = meta.get("min", -2**31), meta.get("max", 2**31)
        return st.sampled_from([low - 1, high + 1, -2**63, 2**64]) | st.integers()
    if kind == "blob":
        return st.sampled_from(["!!", "", "UEsDBA==", "====", "a"]) | st.text(max_size=10)
    return st.text(max_size=10)


def bad_value(shape, depth: int = 0) -> st.SearchStrategy:
    """A value for `shape` that is likely to break it (sometimes a good one, sometimes a wrong type)."""
    kind = shape.type_name
    if kind == "structure" and depth < 2:
        members = {name: bad_value(member, depth + 1) for name, member in shape.members.items()}
        inner = st.fixed_dictionaries({}, optional=members) if members else st.just({})
    elif kind == "list" and depth < 2:
        inner = st.lists(bad_value(shape.member, depth + 1), max_size=3) \
            | st.just(["x"] * (shape.metadata.get("max", 1000) + 1))
    elif kind == "map" and depth < 2:
        inner = st.dictionaries(bad_scalar(shape.key) if shape.key.type_name == "string" else st.text(max_size=5),
                                bad_value(shape.value, depth + 1), max_size=3)
    elif kind in ("structure", "list", "map"):
        inner = st.sampled_from([{}, [], "x"])
    else:
        inner = bad_scalar(shape)
    return inner | wrong_types | st.sampled_from([deep(50), deep(1200)])


@st.composite
def lambda_requests(draw):
    """(operation, method, path, headers, body) for one model-generated bad request."""
    name = draw(st.sampled_from(OPERATIONS))
    operation = LAMBDA.operation_model(name)
    uri = operation.http["requestUri"]
    path, _, fixed_query = uri.partition("?")
    query: dict[str, str] = dict(part.split("=", 1) for part in fixed_query.split("&") if "=" in part)
    headers: dict[str, str] = {"Content-Type": "application/json"}
    body: dict = {}
    shape = operation.input_shape
    for member_name, member in (shape.members.items() if shape is not None else ()):
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", member_name)
        if location == "uri":
            value = draw(st.sampled_from(["fuzz-model-absent", "a" * 200, "bad name!", "%", "1", "$LATEST"])
                         | st.text(min_size=1, max_size=20))
            path = path.replace("{" + wire_name + "}", quote(value, safe="")).replace(
                "{" + wire_name + "+}", quote(value, safe=""))
        elif location == "querystring":
            if draw(st.booleans()):
                query[wire_name] = str(draw(bad_value(member)))[:300]
        elif location == "header":
            if draw(st.booleans()):
                headers[wire_name] = draw(header_text)
        elif member.serialization.get("eventstream") is None and draw(st.booleans()):
            body[wire_name] = draw(bad_value(member))
    kind = draw(st.sampled_from(["model", "model", "model", "deep", "bytes", "text"]))
    if kind == "model":
        raw = json.dumps(body).encode()
    elif kind == "deep":
        depth = draw(st.sampled_from([999, 1000, 1001, 3000, 20000]))
        raw = b"[" * depth + b"]" * depth if draw(st.booleans()) else b'{"a":' * depth + b"1" + b"}" * depth
    elif kind == "bytes":
        raw = draw(st.binary(max_size=200))
    else:
        raw = draw(st.text(max_size=100)).encode()
    if query:
        path += "?" + urlencode(query)
    return name, operation.http["method"], path, headers, raw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=lambda_requests())
def test_every_operation_answers_model_generated_bad_input_in_aws_shape(server, request):
    name, method, path, headers, raw = request
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=raw, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert response.status < 500, (name, method, path, response.status, data[:300])
    assert b"Traceback" not in data and b'File "' not in data, (name, data[:300])
    assert_aws_shaped(response.status, response.getheader("x-amzn-ErrorType"), data)
