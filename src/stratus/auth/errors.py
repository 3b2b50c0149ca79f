"""The errors AWS answers unsigned or wrongly signed requests with, in the Lambda API's shape (403,
`x-amzn-ErrorType`, `{"message": ...}`); `json11_body` renders them for the AWS JSON 1.1 surface."""

from __future__ import annotations

import msgspec

from stratus.errors import LambdaError


class AuthError(LambdaError):
    status = 403
    fault = "User"
    json11_message = ""  # the JSON 1.1 services' wording where it differs

    def body(self) -> bytes:
        return msgspec.json.encode({"message": self.message})

    def json11_body(self) -> bytes:
        return msgspec.json.encode({"__type": self.error_type, "message": self.json11_message or self.message})


class MissingAuthenticationTokenException(AuthError):
    error_type = "MissingAuthenticationTokenException"
    json11_message = "Request is missing Authentication Token"

    def __init__(self) -> None:
        super().__init__("Missing Authentication Token")


class UnrecognizedClientException(AuthError):
    error_type = "UnrecognizedClientException"

    def __init__(self) -> None:
        super().__init__("The security token included in the request is invalid.")


SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                      "Secret Access Key and signing method. Consult the service documentation for details.")


class InvalidSignatureException(AuthError):
    error_type = "InvalidSignatureException"

    def __init__(self, message: str = SIGNATURE_MISMATCH) -> None:
        super().__init__(message)


class IncompleteSignatureException(AuthError):
    error_type = "IncompleteSignatureException"


class AccessDeniedException(AuthError):
    error_type = "AccessDeniedException"
