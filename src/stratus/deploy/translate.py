"""Parameters checked against their declarations, then SAM → CloudFormation with aws-sam-translator (AWS's own).

A template without `Transform: AWS::Serverless-2016-10-31` is plain CloudFormation and is used as it is. The
translator's refusals (InvalidDocumentException and its causes) become one ValidationError line naming the
resource, in the translator's words.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from typing import Any

from stratus.deploy.intrinsics import ValidationError, nearest
from stratus.iam.managed import MANAGED_POLICIES, managed_policy_arn

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LIST_TYPES = ("CommaDelimitedList", "List<Number>", "List<String>")
MASK = "****"


def managed_policy_map() -> dict[str, str]:
    """AWS managed policy name → ARN, for the translator's `Policies: [AWSLambdaBasicExecutionRole, ...]`."""
    return {name: managed_policy_arn(name) for name in MANAGED_POLICIES}


def check_parameters(template: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The parameters' values (overrides, else Defaults) as CloudFormation gives them to Ref: strings, lists of
    strings for list types. Raises ValidationError (one line) for an unknown key, a missing value or a value
    outside its constraints."""
    declared = template.get("Parameters") or {}
    unknown = [key for key in overrides if key not in declared]
    if unknown:
        raise ValidationError(f"Parameters: [{', '.join(unknown)}] do not exist in the template"
                              f"{nearest(unknown[0], declared)}")
    values: dict[str, Any] = {}
    missing = []
    for name, spec in declared.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("Type"), str):
            raise ValidationError(f"Template format error: parameter {name} must have a Type")
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            missing.append(name)
            continue
        values[name] = _checked(name, spec, raw)
    if missing:
        raise ValidationError(f"Parameters: [{', '.join(missing)}] must have values")
    return values


def _checked(name: str, spec: dict[str, Any], raw: Any) -> Any:
    kind = spec["Type"]
    if isinstance(raw, list):
        raw = ",".join(str(item) for item in raw)
    text = "true" if raw is True else "false" if raw is False else str(raw)
    why = spec.get("ConstraintDescription")

    def refuse(reason: str) -> ValidationError:
        return ValidationError(f"Parameter '{name}' {reason}" + (f": {why}" if why else ""))

    if kind.startswith("AWS::SSM::Parameter"):
        raise ValidationError(f"Parameter '{name}': type {kind} (SSM parameters) is not supported by Stratus")
    items = [item.strip() for item in text.split(",")] if kind in LIST_TYPES or kind.startswith("List<") else [text]
    for item in items:
        _check_item(spec, kind, item, refuse)
    return items if kind in LIST_TYPES or kind.startswith("List<") else text


def _check_item(spec: dict[str, Any], kind: str, item: str, refuse: Callable[[str], ValidationError]) -> None:
    """One value against its parameter's constraints (each item of a list type)."""
    number = kind in ("Number", "List<Number>")
    if number:
        try:
            float(item)
        except ValueError:
            raise refuse(f"must be a number, not '{item}'") from None
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and item not in [str(choice) for choice in allowed]:
        raise refuse(f"must be one of AllowedValues [{', '.join(str(choice) for choice in allowed)}], not '{item}'")
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str) and re.fullmatch(pattern, item) is None:
        raise refuse(f"must match pattern {pattern}, not '{item}'")
    if "MinLength" in spec and len(item) < int(spec["MinLength"]):
        raise refuse(f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
        raise refuse(f"must contain at most {spec['MaxLength']} characters")
    if number and "MinValue" in spec and float(item) < float(spec["MinValue"]):
        raise refuse(f"must be a number not less than {spec['MinValue']}")
    if number and "MaxValue" in spec and float(item) > float(spec["MaxValue"]):
        raise refuse(f"must be a number not greater than {spec['MaxValue']}")


def shown_parameters(template: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
    """Parameters as a description shows them: NoEcho ones masked, lists joined."""
    declared = template.get("Parameters") or {}
    shown = {}
    for name, value in values.items():
        spec = declared.get(name) or {}
        noecho = str(spec.get("NoEcho", "false")).lower() == "true"
        shown[name] = MASK if noecho else ",".join(value) if isinstance(value, list) else str(value)
    return shown


def is_sam(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def translate(template: dict[str, Any], parameters: dict[str, Any], region: str, account_id: str,
              stack_name: str) -> dict[str, Any]:
    """The CloudFormation template (SAM translated, other transforms refused)."""
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [] if transform is None else [transform]
    others = [str(name) for name in names if name != SAM_TRANSFORM]
    if others:
        raise ValidationError(f"Transform {others[0]} is not supported (Stratus runs {SAM_TRANSFORM})")
    if not names:
        return template
    import boto3
    from samtranslator.model.exceptions import (
        ExceptionWithMessage,
        InvalidDocumentException,
    )
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)  # "unpublished metrics": none kept
    values: dict[str, Any] = {name: ",".join(value) if isinstance(value, list) else value
                              for name, value in parameters.items()}
    values.update({"AWS::AccountId": account_id, "AWS::Region": region, "AWS::StackName": stack_name})
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        return translator.translate(copy.deepcopy(template), parameter_values=values,
                                    get_managed_policy_map=managed_policy_map)
    except InvalidDocumentException as error:
        causes = [getattr(cause, "message", str(cause)) for cause in getattr(error, "causes", [])]
        raise ValidationError(" ".join(causes) or str(error)) from None
    except ExceptionWithMessage as error:
        raise ValidationError(error.message) from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:  # the translator's own crashes on odd input
        raise ValidationError(f"Transform {SAM_TRANSFORM} failed: {type(error).__name__}: {error}") from None
