"""A template's text → a dict: JSON, or YAML with CloudFormation's short-form tags turned into their long form.

`!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`, `!Condition C` → `{"Condition": "C"}`,
every other `!Name v` → `{"Fn::Name": v}`. YAML timestamps stay strings (`AWSTemplateFormatVersion: 2010-09-09`
unquoted is a string to CloudFormation). A template that does not load raises TemplateError: one line naming
the line.
"""

from __future__ import annotations

import json
from typing import Any

import yaml


class TemplateError(ValueError):
    """The template cannot be used; `str()` is a one-line reason (with the line number where there is one)."""


SHORT_TAGS = ("Ref", "Condition", "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "And", "Or", "Not",
              "FindInMap", "Base64", "Cidr", "GetAZs", "ImportValue", "Transform", "Length", "ToJsonString")


class _Loader(yaml.SafeLoader):
    """SafeLoader with CloudFormation's tags and without implicit timestamps."""


# Resolvers are class-level lists: copy before removing the timestamp one, so yaml.SafeLoader keeps it.
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in value if tag != "tag:yaml.org,2002:timestamp"]
    for key, value in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()}


def _construct(loader: yaml.SafeLoader, tag: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag in ("Ref", "Condition"):
        return {tag: value}
    if tag == "GetAtt" and isinstance(value, str):
        resource, dot, attribute = value.partition(".")
        if not dot:
            raise TemplateError(f"Template format error: line {node.start_mark.line + 1}: !GetAtt '{value}' must "
                                "be of the form Resource.Attribute")
        value = [resource, attribute]
    return {f"Fn::{tag}": value}


def _unknown(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    hint = f" (did you mean !{_nearest(suffix, SHORT_TAGS)}?)" if _nearest(suffix, SHORT_TAGS) else ""
    raise TemplateError(f"Template format error: line {node.start_mark.line + 1}: unknown tag !{suffix}{hint}")


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping whose duplicate keys are refused (CloudFormation refuses them; PyYAML keeps the last)."""
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise TemplateError(f"Template format error: line {key_node.start_mark.line + 1}: duplicate key '{key}'")
        result[key] = loader.construct_object(value_node, deep=True)
    return result


for _tag in SHORT_TAGS:
    _Loader.add_constructor(f"!{_tag}", lambda loader, node, tag=_tag: _construct(loader, tag, node))
_Loader.add_multi_constructor("!", _unknown)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _nearest(name: str, candidates: Any) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def load_template(text: str) -> dict[str, Any]:
    """The template as a dict (raises TemplateError)."""
    if not text.strip():
        raise TemplateError("Template format error: the template is empty")
    document: Any
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise TemplateError(f"Template format error: line {error.lineno}: JSON not well-formed: {error.msg}") \
                from None
    else:
        try:
            document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = f"line {mark.line + 1}: " if mark is not None else ""
            problem = " ".join(part for part in (error.context, error.problem) if part)
            raise TemplateError(f"Template format error: {line}YAML not well-formed: {problem}") from None
        except yaml.YAMLError as error:
            raise TemplateError(f"Template format error: YAML not well-formed: {error}") from None
    if not isinstance(document, dict):
        raise TemplateError("Template format error: the template must be a mapping (JSON object or YAML mapping)")
    resources = document.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("Template format error: At least one Resources member must be defined.")
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(f"Template format error: [/Resources/{logical_id}] Every Resources object must "
                                "contain a Type member.")
    for section in ("Parameters", "Conditions", "Mappings", "Outputs", "Globals"):
        if section in document and not isinstance(document[section], dict):
            raise TemplateError(f"Template format error: {section} must be a mapping")
    return document
