"""The EventBridge pattern engine against the examples of AWS's EventBridge User Guide ("Event patterns",
"Content filtering", "Arrays", "Null values and empty strings") and the rules of AWS's Event Ruler."""

from __future__ import annotations

import json

import pytest

from stratus.events.patterns import InvalidEventPattern, compile_pattern, matches, validate_pattern

# The guide's example event (an EC2 state-change notification), extended with the fields its
# content-filtering examples refer to.
EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "FileName": "photo.PNG",
        "responseElements": None,
        "eventVersion": "",
        "service": "EventBridge",
    },
}


def check(pattern: dict, event: dict = EVENT) -> bool:
    """Match through the JSON text path a rule takes (validate, then match)."""
    return matches(validate_pattern(json.dumps(pattern)), event)


def reason(pattern) -> str:
    text = pattern if isinstance(pattern, str) else json.dumps(pattern)
    with pytest.raises(InvalidEventPattern) as raised:
        validate_pattern(text)
    assert str(raised.value).startswith("Event pattern is not valid. Reason: ")
    return raised.value.reason


# ------------------------------------------------------------------------------ exact values
def test_exact_values_and_nested_objects():
    assert check({"source": ["aws.ec2"]})
    assert check({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]})
    assert check({"detail": {"state": ["running", "terminated"]}})  # an array is OR
    assert not check({"detail": {"state": ["running", "pending"]}})
    assert not check({"source": ["aws.ec2"], "detail": {"state": ["running"]}})  # fields are AND
    assert not check({"Source": ["aws.ec2"]})  # keys are case sensitive
    assert not check({"source": ["AWS.EC2"]})  # so are values
    assert not check({"detail": {"no-such-field": ["x"]}})


def test_event_array_matches_when_intersection_is_not_empty():
    event = dict(EVENT, resources=[
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
    ])
    pattern = {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                             "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}
    assert check(pattern, event)
    assert not check(pattern, dict(EVENT, resources=event["resources"][:1]))
    assert not check({"resources": [None]}, dict(EVENT, resources=[]))


def test_numbers_booleans_null_and_empty_string():
    assert check({"detail": {"c-count": [5]}})
    assert check({"detail": {"c-count": [5.0]}})  # numbers compare as numbers
    assert not check({"detail": {"c-count": ["5"]}})  # a string is not a number
    assert check({"flag": [False]}, {"flag": False})
    assert not check({"flag": [False]}, {"flag": 0})
    assert not check({"flag": [False]}, {"flag": True})
    assert check({"detail": {"responseElements": [None]}})
    assert not check({"detail": {"responseElements": [None]}}, {"detail": {"responseElements": "null"}})
    assert check({"detail": {"eventVersion": [""]}})
    assert check({"account": [111122223333]}, {"account": 111122223333})  # large integers stay exact


def test_keys_join_with_dots_and_arrays_of_objects_are_crushed():
    assert check({"detail": {"state.status": ["running"]}}, {"detail": {"state": {"status": "running"}}})
    assert check({"detail": {"state": {"status": ["running"]}}}, {"detail": {"state.status": "running"}})
    event = {"detail": {"automations": [{"key1": "value1"}, {"id": "match"}, {"key2": "value2"}]}}
    assert check({"detail": {"automations": {"id": ["match"]}}}, event)
    assert not check({"detail": {"state": ["{}"]}}, {"detail": "{\"state\": \"{}\"}"})  # a string is not parsed


def test_fields_never_match_across_elements_of_one_array():
    event = {"employees": [{"firstName": "John", "lastName": "Doe"},
                           {"firstName": "Anna", "lastName": "Smith"},
                           {"firstName": "Peter", "lastName": "Jones"}]}
    assert check({"employees": {"firstName": ["Anna"]}}, event)
    assert check({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, event)
    assert not check({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, event)
    nested = {"employees": [[{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}],
                            [{"firstName": "Peter", "lastName": "Jones"}]]}
    assert check({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, nested)
    assert not check({"employees": {"firstName": ["Peter"], "lastName": ["Smith"]}}, nested)


# ---------------------------------------------------------------------------- filter types
def test_prefix_and_suffix():
    assert check({"time": [{"prefix": "2017-12-22"}]})
    assert not check({"time": [{"prefix": "2017-10-02"}]})
    assert check({"source": [{"prefix": ""}]})
    assert check({"detail": {"service": [{"prefix": {"equals-ignore-case": "EVENTB"}}]}})
    assert not check({"detail": {"service": [{"prefix": "EVENTB"}]}})
    assert check({"detail": {"FileName": [{"suffix": ".PNG"}]}})
    assert not check({"detail": {"FileName": [{"suffix": ".png"}]}})
    assert check({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}})
    assert not check({"detail": {"c-count": [{"prefix": "5"}]}})  # prefixes apply to strings only


def test_anything_but_values():
    assert check({"detail": {"state": [{"anything-but": "initializing"}]}})
    assert not check({"detail": {"state": [{"anything-but": "terminated"}]}})
    assert check({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}})
    assert not check({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}})
    assert check({"detail": {"x-limit": [{"anything-but": 123}]}})
    assert not check({"detail": {"c-count": [{"anything-but": [100, 5]}]}})
    assert check({"detail": {"c-count": [{"anything-but": ["5"]}]}})  # the string "5" is not the number 5
    assert check({"detail": {"responseElements": [{"anything-but": "x"}]}})  # null is anything but "x"
    assert not check({"detail": {"missing": [{"anything-but": "x"}]}})  # a missing field is not a value


def test_anything_but_prefix_suffix_ignore_case_wildcard():
    assert check({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}})
    assert not check({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}})
    assert not check({"detail": {"state": [{"anything-but": {"prefix": ["init", "term"]}}]}})
    assert check({"detail": {"c-count": [{"anything-but": {"prefix": "5"}}]}})  # numbers are not strings
    assert check({"detail": {"FileName": [{"anything-but": {"suffix": ".png"}}]}})
    assert not check({"detail": {"FileName": [{"anything-but": {"suffix": ".PNG"}}]}})
    assert not check({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Initializing", "TERMINATED"]}}]}})
    assert check({"detail": {"state": [{"anything-but": {"equals-ignore-case": "INITIALIZING"}}]}})
    assert check({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"FilePath": "/usr/bin/x"})
    assert not check({"FilePath": [{"anything-but": {"wildcard": ["*/bin/*", "*/lib/*"]}}]}, {"FilePath": "/usr/lib/x"})


def test_numeric_ranges():
    pattern = {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}],
                          "x-limit": [{"numeric": ["=", 3.018e2]}]}}
    assert check(pattern)
    assert not check(pattern, dict(EVENT, detail=dict(EVENT["detail"], **{"c-count": 6})))
    assert check({"n": [{"numeric": [">=", 1, "<", 2]}]}, {"n": 1})
    assert not check({"n": [{"numeric": [">=", 1, "<", 2]}]}, {"n": 2})
    assert check({"n": [{"numeric": [">", 100]}]}, {"n": 101.0})
    assert not check({"n": [{"numeric": [">", 100]}]}, {"n": "300"})  # numeric applies to numbers only
    assert not check({"n": [{"numeric": [">", 100]}]}, {"n": None})
    assert not check({"n": [{"numeric": [">", 100]}]}, {"n": True})
    assert check({"n": [{"numeric": ["<=", -1.5]}]}, {"n": -2})


def test_exists():
    assert check({"detail": {"state": [{"exists": True}]}})
    assert not check({"detail": {"nothing": [{"exists": True}]}})
    assert check({"detail": {"nothing": [{"exists": False}]}})
    assert not check({"detail": {"state": [{"exists": False}]}})
    assert check({"detail": {"responseElements": [{"exists": True}]}})  # null is a value
    # exists only applies to leaves: an object or an empty array has no value at that path
    assert not check({"detail": [{"exists": True}]})
    assert not check({"resources": [{"exists": True}]}, dict(EVENT, resources=[]))
    assert check({"a": {"b": {"c": [{"exists": False}]}}}, {"a": {"b": "leaf"}})
    # alternatives of one field are OR: absent, or anything but "roses"
    pattern = {"dynamodb": {"homemade": {"S": [{"anything-but": ["roses"]}, {"exists": False}]}}}
    assert check(pattern, {"dynamodb": {"purchased": {"N": "789"}}})
    assert check(pattern, {"dynamodb": {"homemade": {"S": "tulips"}}})
    assert not check(pattern, {"dynamodb": {"homemade": {"S": "roses"}}})


def test_equals_ignore_case_wildcard_and_cidr():
    assert check({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]})
    assert not check({"detail-type": [{"equals-ignore-case": "ec2 instance"}]})
    arn = {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus"}
    assert check({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}, arn)
    assert not check({"EventBusArn": [{"wildcard": "arn:aws:events:us-west-2:*:event-bus/*"}]}, arn)
    assert check({"f": [{"wildcard": "a\\*b"}]}, {"f": "a*b"})  # \* is a literal star
    assert not check({"f": [{"wildcard": "a\\*b"}]}, {"f": "axxb"})
    assert check({"f": [{"wildcard": "/Users/*/doc.txt"}]}, {"f": "/Users/me/dir/dir/doc.txt"})
    assert check({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}})
    assert not check({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}})
    assert not check({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.0.256"})
    assert check({"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}, {"ip": "2001:0db8:1234:1a00:0000:0000:0000:0001"})
    assert not check({"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}, {"ip": "2001:db8:123f:1a01::"})


def test_or_at_any_level():
    pattern = {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]},
                                  {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}
    assert check(pattern, {"detail": {"c-count": 0, "d-count": 0, "x-limit": 901.8}})  # d-count matches
    assert not check(pattern, {"detail": {"c-count": 0, "d-count": 10, "x-limit": 901.8}})
    top = {"source": ["aws.ec2"], "$or": [{"detail-type": ["nothing"]}, {"detail": {"state": ["terminated"]}}]}
    assert check(top)
    assert not check(dict(top, source=["aws.s3"]))


def test_several_alternatives_in_one_array_are_or():
    assert check({"my_key": [{"exists": True}, {"prefix": "IGNORED"}]}, {"my_key": "my-value"})
    assert check({"admins": ["skyli", {"prefix": "hey"}, {"prefix": "ad"}]}, {"admins": "admin"})


# ------------------------------------------------------------------------------ invalid patterns
@pytest.mark.parametrize("pattern,expected", [
    ('["not", "an", "object"]', "Filter is not an object"),
    ({"string": "my-value"}, '"string" must be an object or an array'),
    ({"int": 42}, '"int" must be an object or an array'),
    ({"resources": []}, "Empty arrays are not allowed"),
    ({"detail": {}}, "Empty objects are not allowed"),
    ({"a": [["nested"]]}, "Match value must be String, number, true, false, or null"),
    ({"my_key": [{"EXISTS": True}]}, "Unrecognized match type EXISTS"),
    ({"detail": {"equal": [{"NUMERIC": ["=", 5]}]}}, "Unrecognized match type NUMERIC"),
    ({"a": [{}]}, "Match expression name not found"),
    ({"a": [{"prefix": "x", "suffix": "y"}]}, "Only one key allowed in match expression"),
    ({"time": [{"prefix": 123}]}, "prefix match pattern must be a string"),
    ({"time": [{"prefix": ["2022-07-13"]}]}, "prefix match pattern must be a string"),
    ({"FileName": [{"suffix": [".png"]}]}, "suffix match pattern must be a string"),
    ({"t": [{"prefix": {"wildcard": "x"}}]}, "Unsupported prefix pattern: wildcard"),
    ({"t": [{"equals-ignore-case": ["x"]}]}, "equals-ignore-case match pattern must be a string"),
    ({"d": {"c": [{"numeric": 10}]}}, "Value of numeric must be an array."),
    ({"d": {"c": [{"numeric": [">", 0, ">", 0]}]}}, "Bad numeric range operator: >"),
    ({"d": {"c": [{"numeric": [">", 0, "<"]}]}}, "Value of < must be numeric"),
    ({"d": {"c": [{"numeric": ["=", "5"]}]}}, "Value of equals must be numeric"),
    ({"d": {"c": [{"numeric": ["<", 5, ">", 1]}]}}, "Too many elements in numeric expression"),
    ({"d": {"c": [{"numeric": [">", 1, "<", 5, 6]}]}}, "Too many terms in numeric range expression"),
    ({"d": {"c": [{"numeric": ["!=", 5]}]}}, "Unrecognized numeric range operator: !="),
    ({"d": {"c": [{"numeric": [">", 5, "<", 1]}]}}, "Bottom must be less than top"),
    ({"s": [{"anything-but": None}]}, "Value of anything-but must be an array or single string/number value."),
    ({"s": [{"anything-but": ["stopped", None]}]}, "Inside anything but list, start|null|boolean is not supported."),
    ({"s": [{"anything-but": ["stopped", 5]}]},
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ({"s": [{"anything-but": {"prefix": ""}}]}, "Null prefix/suffix not allowed"),
    ({"s": [{"anything-but": {"suffix": [123, ".txt"]}}]}, "prefix/suffix match pattern must be a string"),
    ({"s": [{"anything-but": {"equals-ignore-case": 123}}]},
     "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."),
    ({"s": [{"anything-but": {"wildcard": 123}}]}, "wildcard match pattern must be a string"),
    ({"s": [{"anything-but": {"exists": True}}]}, "Unsupported anything-but pattern: exists"),
    ({"s": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
    ({"e": [{"wildcard": 123}]}, "wildcard match pattern must be a string"),
    ({"e": [{"wildcard": "arn:aws:events:us-east-1:**:event-bus/*"}]}, "Consecutive wildcard characters at pos 26"),
    ({"e": [{"wildcard": "a\\b"}]}, "Invalid escape character at pos 2"),
    ({"ip": [{"cidr": "bad-filter"}]}, "Malformed CIDR, one '/' required"),
    ({"ip": [{"cidr": "bad-/64filter"}]}, "Malformed CIDR, mask bits must be an integer"),
    ({"ip": [{"cidr": "xx.11.xx/8"}]}, "Nonstandard IP address: xx.11.xx"),
    ({"ip": [{"cidr": "10.0.0.0/33"}]}, "IPv4 mask bits must be < 32"),
    ({"ip": [{"cidr": ["10.0.0.0/8"]}]}, "prefix match pattern must be a string"),
    ({"$or": {"a": ["b"]}}, "It must be an Array followed with $or."),
    ({"$or": [{"a": ["b"]}]}, "There must have at least 2 Objects in $or relationship."),
    ({"$or": [{"a": ["b"]}, "c"]}, "Only JSON object is allowed in array of $or relationship."),
    ({"$or": [{"prefix": ["b"]}, {"a": ["c"]}]}, "prefix is Ruler reserved fieldName which cannot be used inside $or."),
])
def test_invalid_patterns_give_aws_reasons(pattern, expected):
    assert reason(pattern) == expected


def test_text_that_is_not_json_is_invalid():
    assert reason("this is valid json but not a dict")
    assert reason("{'bad': 'quotation'}")
    assert reason('{"not": closed mark"')
    assert reason('{"n": [NaN]}')


def test_invalid_error_is_a_value_error_with_aws_message():
    with pytest.raises(ValueError, match=r"^Event pattern is not valid\. Reason: Empty arrays are not allowed$"):
        validate_pattern('{"resources": []}')


def test_matches_accepts_objects_built_in_python_and_compiled_patterns():
    compiled = compile_pattern({"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}})
    assert matches(compiled, EVENT)
    assert matches({"detail": {"x-limit": [301.8]}}, EVENT)
    with pytest.raises(InvalidEventPattern):
        matches({"detail": "x"}, EVENT)
