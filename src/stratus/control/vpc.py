"""A function's VpcConfig: stored and answered as AWS does; the subnets' VPC looked up on EC2.

Stratus does not attach environments to a VPC (an environment's network is the server's function network
mode). The configuration is kept so deployments that set it work unchanged: with an EC2 endpoint in
STRATUS_SERVICE_ENDPOINTS (`ec2=<url>`, e.g. moto or AWS), the subnets and security groups are checked there
(AWS's errors: "Error occurred while DescribeSubnets. EC2 Error Code: ...") and `VpcId` is the subnets' VPC;
without one, they are stored as given and `VpcId` is "". `check` blocks (a worker thread runs it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from stratus.errors import (
    InvalidParameterValueException,
    ServiceException,
    ValidationException,
    validation_message,
)
from stratus.service_clients import ServiceClients
from stratus.shapes.function import VpcConfig, VpcConfigResponse

# The id patterns AWS checks VpcConfig's lists against (its own model's; botocore's has none for them).
_SUBNET_ID = "subnet-[0-9a-z]*"
_GROUP_ID = "sg-[0-9a-zA-Z]*"


def _id_problem(ids: list[str], member: str, pattern: str) -> str:
    """AWS's validation problem for a list of ids one of which breaks `pattern` or the length, "" if none."""
    if all(len(value) <= 1024 and re.fullmatch(pattern, value) for value in ids):
        return ""
    return (f"Value '[{', '.join(ids)}]' at 'vpcConfig.{member}' failed to satisfy constraint: Member must satisfy "
            "constraint: [Member must have length less than or equal to 1024, Member must have length greater than "
            f"or equal to 0, Member must satisfy regular expression pattern: {pattern}]")


class VpcConfigs:
    """VpcConfig requests → the VpcConfig a function answers with."""

    def __init__(self, clients: ServiceClients):
        self.clients = clients

    def check(self, requested: VpcConfig) -> VpcConfigResponse:
        """The stored form of `requested` (empty lists: no VPC, as AWS answers a removal)."""
        subnets = list(requested.SubnetIds or [])
        groups = list(requested.SecurityGroupIds or [])
        problems = [problem for problem in (_id_problem(subnets, "subnetIds", _SUBNET_ID),
                                            _id_problem(groups, "securityGroupIds", _GROUP_ID)) if problem]
        if problems:
            raise ValidationException(validation_message(problems))
        vpc_id = ""
        if (subnets or groups) and self.clients.endpoint("ec2"):
            vpc_id = self._vpc_of(subnets, groups)
        return VpcConfigResponse(SubnetIds=subnets, SecurityGroupIds=groups, VpcId=vpc_id,
                                 Ipv6AllowedForDualStack=bool(requested.Ipv6AllowedForDualStack))

    def _vpc_of(self, subnets: list[str], groups: list[str]) -> str:
        ec2 = self.clients.client("ec2")
        if groups:  # AWS looks the security groups up before the subnets
            self._call("DescribeSecurityGroups", ec2.describe_security_groups, GroupIds=groups)
        found = self._call("DescribeSubnets", ec2.describe_subnets, SubnetIds=subnets)["Subnets"] if subnets else []
        vpcs = {subnet.get("VpcId") for subnet in found}
        if len(vpcs) > 1:
            raise InvalidParameterValueException("Subnets and security groups must belong to the same VPC.")
        return vpcs.pop() if vpcs else ""

    @staticmethod
    def _call(operation: str, method: Callable[..., Any], **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise InvalidParameterValueException(
                f"Error occurred while {operation}. EC2 Error Code: {error.get('Code')}. "
                f"EC2 Error Message: {error.get('Message')}") from None
        except BotoCoreError as exc:
            raise ServiceException(f"Error occurred while {operation} on the EC2 endpoint: {exc}") from None
