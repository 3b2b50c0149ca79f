"""CloudFormation's intrinsic functions, conditions and pseudo-parameters, evaluated against a stack's values.

`Resolver.resolve(value)` turns a template value into plain JSON: `Ref` (parameters, pseudo-parameters,
resources' physical ids), `Fn::GetAtt`, `Fn::Sub` (string and [string, variables] forms, `${!Literal}`),
`Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If` (with `Conditions`), `Fn::FindInMap`, `Fn::Base64`, `Fn::GetAZs`,
`Fn::Cidr`; `Ref: AWS::NoValue` removes the member. `references(value)` lists the resources a value refers to
(the engine's dependency graph). Anything unknown raises ValidationError naming it, with the nearest name.
"""

from __future__ import annotations

import base64
import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

PSEUDO = ("AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId", "AWS::URLSuffix", "AWS::Partition",
          "AWS::NoValue", "AWS::NotificationARNs")
FUNCTIONS = ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::If", "Fn::FindInMap",
             "Fn::Base64", "Fn::GetAZs", "Fn::Cidr", "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition")
_SUB = re.compile(r"\$\{([^}]*)\}")


class ValidationError(ValueError):
    """The template cannot be deployed as written; `str()` is one line naming what is wrong."""


class _NoValue:
    """`Ref: AWS::NoValue`: the member is removed."""


NO_VALUE = _NoValue()


def nearest(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or ''."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean {found[0]}?)" if found else ""


def _intrinsic(value: Any) -> tuple[str, Any] | None:
    """(name, argument) when `value` is a one-member mapping naming an intrinsic (or looking like one)."""
    if isinstance(value, dict) and len(value) == 1:
        (key, argument), = value.items()
        if key == "Ref" or key.startswith("Fn::") or key == "Condition":
            return key, argument
    return None


def references(value: Any, conditions_map: dict[str, Any] | None = None) -> set[str]:
    """The names a value refers to through Ref, Fn::GetAtt and Fn::Sub (parameters and pseudo-parameters included;
    the caller keeps the resources)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        call = _intrinsic(item)
        if call is not None:
            name, argument = call
            if name == "Ref" and isinstance(argument, str):
                found.add(argument)
                return
            if name == "Fn::GetAtt":
                target = argument.split(".", 1)[0] if isinstance(argument, str) else \
                    argument[0] if isinstance(argument, list) and argument else None
                if isinstance(target, str):
                    found.add(target)
                if isinstance(argument, list):
                    walk(argument[1:])
                return
            if name == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else \
                    (argument[0], argument[1]) if isinstance(argument, list) and len(argument) == 2 else ("", {})
                if isinstance(text, str):
                    for match in _SUB.finditer(text):
                        inner = match.group(1)
                        if inner.startswith("!") or (isinstance(variables, dict) and inner in variables):
                            continue
                        found.add(inner.split(".", 1)[0].strip())
                walk(variables)
                return
            walk(argument)
            return
        if isinstance(item, dict):
            for member in item.values():
                walk(member)
        elif isinstance(item, list):
            for member in item:
                walk(member)

    walk(value)
    return found


class Resolver:
    """Evaluates intrinsics for one deploy: parameters (already checked), pseudo-parameters, mappings, conditions,
    and the resources as far as they are known (`physical_ids`, `attributes`, filled in as the deploy goes).

    `where` names what is being resolved in error messages (e.g. "HelloFunction" or "Outputs.Api")."""

    def __init__(self, parameters: dict[str, Any], pseudo: dict[str, Any], mappings: dict[str, Any],
                 conditions: dict[str, Any], resource_ids: Iterable[str], region: str):
        self.parameters = parameters
        self.pseudo = pseudo
        self.mappings = mappings
        self.condition_defs = conditions
        self.resource_ids = set(resource_ids)
        self.region = region
        self.physical_ids: dict[str, str] = {}
        self.attributes: dict[str, dict[str, Any]] = {}
        self.attribute_source: Callable[[str, str], Any] | None = None
        self._conditions: dict[str, bool] = {}
        self.where = ""

    # -- conditions -------------------------------------------------------------------------------------------
    def condition(self, name: Any) -> bool:
        if not isinstance(name, str) or name not in self.condition_defs:
            raise ValidationError(f"Template error: unresolved condition dependency {name} in {self.where or 'Fn::If'}"
                                  f"{nearest(str(name), self.condition_defs)}")
        if name not in self._conditions:
            self._conditions[name] = False  # a cycle evaluates to False rather than recursing forever
            self._conditions[name] = self._truth(self.condition_defs[name], name)
        return self._conditions[name]

    def _truth(self, value: Any, where: str) -> bool:
        call = _intrinsic(value)
        if call is None:
            resolved = self.resolve(value)
            if isinstance(resolved, bool):
                return resolved
            if isinstance(resolved, str) and resolved.lower() in ("true", "false"):
                return resolved.lower() == "true"
            raise ValidationError(f"Template error: condition {where} must be Fn::Equals, Fn::And, Fn::Or, Fn::Not "
                                  "or Condition")
        name, argument = call
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            if not isinstance(argument, list) or len(argument) != 2:
                raise ValidationError(f"Template error: Fn::Equals in {where} takes a list of two values")
            left, right = (self.resolve(item) for item in argument)
            return _plain(left) == _plain(right)
        if name in ("Fn::And", "Fn::Or"):
            if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
                raise ValidationError(f"Template error: {name} in {where} takes a list of 2 to 10 conditions")
            values = (self._truth(item, where) for item in argument)
            return all(values) if name == "Fn::And" else any(values)
        if name == "Fn::Not":
            if not isinstance(argument, list) or len(argument) != 1:
                raise ValidationError(f"Template error: Fn::Not in {where} takes a list of one condition")
            return not self._truth(argument[0], where)
        return bool(self.resolve(value))

    # -- values -----------------------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        call = _intrinsic(value)
        if call is not None:
            return self._call(*call)
        if isinstance(value, dict):
            out = {}
            for key, member in value.items():
                resolved = self.resolve(member)
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(value, list):
            return [item for item in (self.resolve(member) for member in value) if item is not NO_VALUE]
        return value

    def ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise ValidationError(f"Template error: Ref in {self.where} must name a parameter or resource")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resource_ids:
            if name not in self.physical_ids:
                raise ValidationError(f"Template error: {self.where} refers to {name}, which is not created yet")
            return self.physical_ids[name]
        raise ValidationError(f"Template format error: Unresolved resource dependencies [{name}] in the Resources "
                              f"block of the template ({self.where}){nearest(name, self.known_names())}")

    def known_names(self) -> list[str]:
        return [*self.parameters, *self.resource_ids, *PSEUDO]

    def get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not isinstance(argument, list) or len(argument) != 2:
            raise ValidationError(f"Template error: Fn::GetAtt in {self.where} takes [resource, attribute]")
        target, attribute = argument[0], self.resolve(argument[1])
        if target not in self.resource_ids:
            raise ValidationError(f"Template error: instance of Fn::GetAtt references undefined resource {target} "
                                  f"({self.where}){nearest(str(target), self.resource_ids)}")
        attributes = self.attributes.get(target)
        if attributes is None:
            raise ValidationError(f"Template error: {self.where} refers to {target}, which is not created yet")
        if attribute not in attributes:
            raise ValidationError(f"Template error: resource {target} does not support attribute {attribute} in "
                                  f"Fn::GetAtt ({self.where}){nearest(str(attribute), attributes)}")
        return attributes[attribute]

    def _call(self, name: str, argument: Any) -> Any:
        handler = self._handlers().get(name)
        if handler is not None:
            return handler(argument)
        if name in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"):
            return self._truth({name: argument}, self.where)
        raise ValidationError(f"Template error: unknown intrinsic function {name} in {self.where}"
                              f"{nearest(name, FUNCTIONS)}" + (" (Stratus keeps no stack exports)"
                                                               if name == "Fn::ImportValue" else ""))

    def _handlers(self) -> dict[str, Callable[[Any], Any]]:
        return {"Ref": self.ref, "Fn::GetAtt": self.get_att, "Fn::Sub": self._sub, "Fn::Join": self._join,
                "Fn::Select": self._select, "Fn::Split": self._split, "Fn::If": self._if,
                "Fn::FindInMap": self._find_in_map, "Fn::Cidr": self._cidr,
                "Fn::Base64": lambda argument: base64.b64encode(_text(self.resolve(argument)).encode()).decode(),
                "Fn::GetAZs": lambda argument: [f"{self.resolve(argument) or self.region}{zone}" for zone in "abc"]}

    def _pair(self, name: str, argument: Any, shape: str) -> tuple[Any, Any]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise ValidationError(f"Template error: {name} in {self.where} takes {shape}")
        return self.resolve(argument[0]), self.resolve(argument[1])

    def _join(self, argument: Any) -> str:
        delimiter, items = self._pair("Fn::Join", argument, "[delimiter, [values]]")
        if not isinstance(items, list):
            raise ValidationError(f"Template error: Fn::Join in {self.where} needs a list of values")
        return str(delimiter).join(_text(item) for item in items)

    def _select(self, argument: Any) -> Any:
        index, items = self._pair("Fn::Select", argument, "[index, [values]]")
        try:
            return items[int(index)]
        except (ValueError, TypeError, IndexError, KeyError):
            raise ValidationError(f"Template error: Fn::Select in {self.where}: index {index} is out of bounds "
                                  f"of a list of {len(items) if isinstance(items, list) else 0}") from None

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = self._pair("Fn::Split", argument, "[delimiter, string]")
        return str(text).split(str(delimiter))

    def _if(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise ValidationError(f"Template error: Fn::If in {self.where} takes [condition, then, else]")
        return self.resolve(argument[1] if self.condition(argument[0]) else argument[2])

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str) \
                and isinstance(argument[1], dict):
            text, variables = argument[0], {key: self.resolve(value) for key, value in argument[1].items()}
        else:
            raise ValidationError(f"Template error: Fn::Sub in {self.where} takes a string or [string, {{variables}}]")

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            inner = inner.strip()
            if inner in variables:
                return _text(variables[inner])
            if "." in inner and not inner.startswith("AWS::"):
                return _text(self.get_att(inner.split(".", 1)))
            return _text(self.ref(inner))

        return _SUB.sub(replace, text)

    def _find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            raise ValidationError(f"Template error: Fn::FindInMap in {self.where} takes [map, top key, second key]")
        map_name, top, second = (self.resolve(item) for item in argument[:3])
        mapping = self.mappings.get(map_name)
        if not isinstance(mapping, dict):
            raise ValidationError(f"Template error: Fn::FindInMap in {self.where}: no mapping {map_name}"
                                  f"{nearest(str(map_name), self.mappings)}")
        if top not in mapping or not isinstance(mapping[top], dict) or second not in mapping[top]:
            if len(argument) == 4 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
                return self.resolve(argument[3]["DefaultValue"])
            raise ValidationError(f"Template error: Fn::FindInMap in {self.where}: mapping {map_name} has no "
                                  f"[{top}][{second}]")
        return mapping[top][second]

    def _cidr(self, argument: Any) -> list[str]:
        if not isinstance(argument, list) or len(argument) != 3:
            raise ValidationError(f"Template error: Fn::Cidr in {self.where} takes [block, count, cidr bits]")
        block, count, bits = (self.resolve(item) for item in argument)
        try:
            network = ipaddress.ip_network(str(block), strict=False)
            prefix = network.max_prefixlen - int(bits)
            subnets = network.subnets(new_prefix=prefix)
            return [str(next(subnets)) for _ in range(int(count))]
        except (ValueError, TypeError, StopIteration) as error:
            raise ValidationError(f"Template error: Fn::Cidr in {self.where}: {error}") from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return str(value)


def _plain(value: Any) -> Any:
    """Values as Fn::Equals compares them (numbers and booleans as their text)."""
    return _text(value) if isinstance(value, (int, float, bool)) else value
