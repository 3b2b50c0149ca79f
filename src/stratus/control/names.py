"""Function names, partial ARNs and full ARNs, resolved as Lambda resolves them."""

from __future__ import annotations

import re

import msgspec

from stratus.errors import InvalidParameterValueException, ResourceNotFoundException

_FUNCTION_REF = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9\-_.]+)"
    r"(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9\-_]+))?"
)

_ALIAS_NAME = re.compile(r"(?!\d+$)[a-zA-Z0-9\-_]+")  # the model's Alias pattern: not all digits

QUALIFIER_MISMATCH = "The derived qualifier from the function name does not match the specified qualifier."


def is_alias_name(qualifier: str) -> bool:
    """Whether a qualifier has the shape of an alias name (not a version number, not $LATEST)."""
    return _ALIAS_NAME.fullmatch(qualifier) is not None


class ForeignAccountException(ResourceNotFoundException):
    """A reference to another account's function. Stratus holds one account's functions, so inside Stratus it
    is a function that is not there; the caller gets what AWS answers: 403 AccessDeniedException, no message."""

    status = 403
    error_type = "AccessDeniedException"

    def body(self) -> bytes:
        return msgspec.json.encode({"Message": None})


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

        The model's patterns have been checked already. As on AWS: another region's ARN is not reachable from
        this one (ResourceNotFoundException saying so), another account's is AccessDeniedException (checked
        first, as authorization comes before the lookup), and a
        qualifier in the reference must agree with a separate Qualifier parameter.
        """
        match = _FUNCTION_REF.fullmatch(reference)
        if match is None:
            raise ResourceNotFoundException(f"Function not found: {reference}")
        region, account = match["region"], match["account"]
        if account and account != self.account_id:
            raise ForeignAccountException(f"Function not found: {reference}")
        if region and region != self.region:
            raise ResourceNotFoundException(f"Functions from '{region}' are not reachable in this region "
                                            f"('{self.region}')")
        embedded = match["qualifier"]
        if embedded and qualifier and embedded != qualifier:
            raise InvalidParameterValueException(QUALIFIER_MISMATCH)
        return match["name"], embedded or qualifier
