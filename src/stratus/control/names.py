"""Function names, partial ARNs and full ARNs, resolved as Lambda resolves them."""

from __future__ import annotations

import re

from stratus.errors import InvalidParameterValueException, ResourceNotFoundException

_FUNCTION_REF = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9\-_.]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9\-_]+))?"
)


class Arns:
    """Builds and reads ARNs for one region and account."""

    def __init__(self, region: str, account_id: str):
        self.region = region
        self.account_id = account_id

    def function(self, name: str, qualifier: str | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def resolve(self, reference: str, qualifier: str | None = None) -> tuple[str, str | None]:
        """(name, qualifier) from a name, `name:qualifier`, a partial ARN or a full ARN.

        The model's patterns have been checked already; here region and account must be ours, and a
        qualifier in the reference must agree with a separate Qualifier parameter.
        """
        match = _FUNCTION_REF.fullmatch(reference)
        if match is None:
            raise ResourceNotFoundException(f"Function not found: {reference}")
        if (match["region"] and match["region"] != self.region) or (
            match["account"] and match["account"] != self.account_id
        ):
            raise ResourceNotFoundException(f"Function not found: {reference}")
        embedded = match["qualifier"]
        if embedded and qualifier and embedded != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        return match["name"], embedded or qualifier
