"""Templates loaded (short tags → long form), parameters checked, intrinsics evaluated, resources ordered."""

from __future__ import annotations

import pytest

from stratus.deploy.engine import _order, prepare
from stratus.deploy.intrinsics import NO_VALUE, Resolver, ValidationError, references
from stratus.deploy.template import TemplateError, load_template
from stratus.deploy.translate import check_parameters, shown_parameters

SHORT = """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  R:
    Type: AWS::IAM::Role
    Properties:
      A: !Ref X
      B: !GetAtt Fn.Arn
      C: !GetAtt [Fn, Arn]
      D: !Sub "${AWS::Region}-${X}"
      E: !Join [",", [a, !Ref X]]
      F: !Select [1, !Split [",", "a,b,c"]]
      G: !If [Cond, one, two]
      H: !Equals [a, b]
      I: !Not [!Condition Cond]
      J: !FindInMap [M, k, v]
      K: !Base64 text
      L: !GetAZs ""
      M: !Cidr ["10.0.0.0/16", 2, 8]
      N: !ImportValue other
      O: !And [!Equals [a, a], !Or [!Equals [a, b], !Equals [b, b]]]
      P: !Sub ["${Y}", {Y: !Ref X}]
"""


def test_short_tags_become_long_form():
    props = load_template(SHORT)["Resources"]["R"]["Properties"]
    assert props["A"] == {"Ref": "X"}
    assert props["B"] == props["C"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert props["D"] == {"Fn::Sub": "${AWS::Region}-${X}"}
    assert props["E"] == {"Fn::Join": [",", ["a", {"Ref": "X"}]]}
    assert props["F"] == {"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}
    assert props["G"] == {"Fn::If": ["Cond", "one", "two"]}
    assert props["I"] == {"Fn::Not": [{"Condition": "Cond"}]}
    assert props["J"] == {"Fn::FindInMap": ["M", "k", "v"]}
    assert props["K"] == {"Fn::Base64": "text"}
    assert props["M"] == {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}
    assert props["N"] == {"Fn::ImportValue": "other"}
    assert props["P"] == {"Fn::Sub": ["${Y}", {"Y": {"Ref": "X"}}]}


def test_timestamps_stay_strings_and_json_loads():
    assert load_template(SHORT)["AWSTemplateFormatVersion"] == "2010-09-09"
    assert load_template('{"Resources": {"R": {"Type": "T"}}}')["Resources"]["R"]["Type"] == "T"


@pytest.mark.parametrize("text, words", [
    ("Resources:\n  R:\n    Type: T\n    Properties: {a: !Nope x}\n", "line 4: unknown tag !Nope"),
    ("Resources:\n  R:\n    Type: T\n  R:\n    Type: U\n", "line 4: duplicate key 'R'"),
    ("Resources:\n  R: [\n", "line 3"),
    ('{"Resources": {"R": }}', "line 1: JSON not well-formed"),
    ("Resources:\n  R:\n    Properties: {}\n", "must contain a Type member"),
    ("- a\n- b\n", "must be a mapping"),
    ("", "empty"),
])
def test_load_errors_are_one_line(text, words):
    with pytest.raises(TemplateError) as caught:
        load_template(text)
    assert words in str(caught.value) and "\n" not in str(caught.value)


PARAMS = {"Parameters": {
    "Stage": {"Type": "String", "AllowedValues": ["dev", "prod"], "Default": "dev"},
    "Size": {"Type": "Number", "MinValue": 1, "MaxValue": 10, "Default": 2},
    "Ids": {"Type": "CommaDelimitedList", "Default": "a, b"},
    "Nums": {"Type": "List<Number>", "Default": "1,2"},
    "Name": {"Type": "String", "AllowedPattern": "[a-z]+", "ConstraintDescription": "lower-case letters"},
    "Secret": {"Type": "String", "NoEcho": True, "Default": "s3cret"},
}}


def test_parameters_defaults_types_and_noecho():
    values = check_parameters(PARAMS, {"Name": "abc", "Size": 3})
    assert values == {"Stage": "dev", "Size": "3", "Ids": ["a", "b"], "Nums": ["1", "2"], "Name": "abc",
                      "Secret": "s3cret"}
    assert shown_parameters(PARAMS, values)["Secret"] == "****"
    assert shown_parameters(PARAMS, values)["Ids"] == "a,b"


@pytest.mark.parametrize("overrides, words", [
    ({"Name": "abc", "Stage": "qa"}, "Parameter 'Stage' must be one of AllowedValues [dev, prod], not 'qa'"),
    ({"Name": "abc", "Size": "eleven"}, "Parameter 'Size' must be a number, not 'eleven'"),
    ({"Name": "abc", "Size": "11"}, "Parameter 'Size' must be a number not greater than 10"),
    ({"Name": "ABC"}, "Parameter 'Name' must match pattern [a-z]+, not 'ABC': lower-case letters"),
    ({"Name": "abc", "Nums": "1,x"}, "Parameter 'Nums' must be a number, not 'x'"),
    ({}, "Parameters: [Name] must have values"),
    ({"Name": "abc", "Nmae": "x"}, "Parameters: [Nmae] do not exist in the template (did you mean Name?)"),
])
def test_parameter_violations(overrides, words):
    with pytest.raises(ValidationError) as caught:
        check_parameters(PARAMS, overrides)
    assert str(caught.value) == words


def resolver(**extra) -> Resolver:
    r = Resolver({"X": "x", "L": ["a", "b"]}, {"AWS::Region": "us-east-1", "AWS::StackName": "s",
                                               "AWS::URLSuffix": "amazonaws.com"},
                 {"M": {"k": {"v": "found"}}}, {"IsX": {"Fn::Equals": [{"Ref": "X"}, "x"]},
                                                "NotX": {"Fn::Not": [{"Condition": "IsX"}]}},
                 ["Fn"], "us-east-1")
    r.physical_ids["Fn"] = "fn-name"
    r.attributes["Fn"] = {"Arn": "arn:fn"}
    return r


def test_intrinsics():
    r = resolver()
    assert r.resolve({"Ref": "Fn"}) == "fn-name"
    assert r.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == "arn:fn"
    assert r.resolve({"Fn::GetAtt": "Fn.Arn"}) == "arn:fn"
    assert r.resolve({"Fn::Sub": "${AWS::Region}/${X}/${Fn}/${Fn.Arn}/${!Literal}/${AWS::URLSuffix}"}) == \
        "us-east-1/x/fn-name/arn:fn/${Literal}/amazonaws.com"
    assert r.resolve({"Fn::Sub": ["${A}-${X}", {"A": {"Ref": "Fn"}}]}) == "fn-name-x"
    assert r.resolve({"Fn::Join": ["-", {"Ref": "L"}]}) == "a-b"
    assert r.resolve({"Fn::Select": ["1", {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert r.resolve({"Fn::If": ["NotX", "yes", "no"]}) == "no"
    assert r.resolve({"Fn::FindInMap": ["M", "k", "v"]}) == "found"
    assert r.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert r.resolve({"Fn::GetAZs": ""}) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert r.resolve({"Fn::Cidr": ["10.0.0.0/16", 2, 8]}) == ["10.0.0.0/24", "10.0.1.0/24"]
    assert r.resolve({"a": {"Ref": "AWS::NoValue"}, "b": [1, {"Ref": "AWS::NoValue"}]}) == {"b": [1]}
    assert r.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    assert r.condition("IsX") is True


@pytest.mark.parametrize("value, words", [
    ({"Fn::Joinn": ["", []]}, "unknown intrinsic function Fn::Joinn in R (did you mean Fn::Join?)"),
    ({"Ref": "Fm"}, "Unresolved resource dependencies [Fm]"),
    ({"Fn::GetAtt": ["Fn", "Arm"]}, "resource Fn does not support attribute Arm in Fn::GetAtt (R) (did you mean Arn?)"),
    ({"Fn::If": ["IsY", 1, 2]}, "unresolved condition dependency IsY in R (did you mean IsX?)"),
    ({"Fn::Select": [5, ["a"]]}, "index 5 is out of bounds"),
    ({"Fn::FindInMap": ["M", "k", "w"]}, "mapping M has no [k][w]"),
    ({"Fn::ImportValue": "x"}, "Stratus keeps no stack exports"),
])
def test_intrinsic_errors(value, words):
    r = resolver()
    r.where = "R"
    with pytest.raises(ValidationError) as caught:
        r.resolve(value)
    assert words in str(caught.value)


def test_references_and_order():
    assert references({"a": {"Ref": "A"}, "b": {"Fn::GetAtt": "B.Arn"}, "c": {"Fn::Sub": "${C.Arn}${!D}${E}"},
                       "d": {"Fn::Sub": ["${V}", {"V": {"Ref": "F"}}]}}) == {"A", "B", "C", "E", "F"}
    assert _order({"A": {"B"}, "B": {"C"}, "C": set(), "D": set()}) == ["C", "B", "A", "D"]
    with pytest.raises(ValidationError, match=r"Circular dependency between resources: \[A, B\]"):
        _order({"A": {"B"}, "B": {"A"}})


def test_prepare_sam_template():
    template = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: index.handler
      Runtime: python3.12
      AutoPublishAlias: live
  ProdOnly:
    Type: AWS::IAM::Role
    Condition: IsProd
    Properties: {AssumeRolePolicyDocument: {}}
"""
    prepared = prepare("s", template, {}, "us-east-1", "000000000000", "arn:stack")
    assert "ProdOnly" not in prepared.resources
    order = prepared.order
    assert order.index("FnRole") < order.index("Fn") < order.index("FnAliaslive")
    version = next(key for key in order if key.startswith("FnVersion"))
    assert order.index(version) < order.index("FnAliaslive")
    assert prepared.cfn["Resources"]["FnRole"]["Properties"]["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    assert set(prepare("s", template, {"Stage": "prod"}, "us-east-1", "0", "arn").resources) >= {"ProdOnly"}
