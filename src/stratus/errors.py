"""One exception per AWS error type: HTTP status, `x-amzn-ErrorType`, and AWS's JSON body."""

from __future__ import annotations

import msgspec


class LambdaError(Exception):
    """An error a caller sees, in the shape the Lambda API returns it."""

    status = 500
    error_type = "ServiceException"
    fault = "Server"  # AWS's body carries "Type": "User" for caller errors
    # The body's message member, as botocore's model names it for this error ("Message" or "message"):
    # botocore fills the parsed error's members from the body by these names.
    message_key = "Message"
    typed = True  # AWS's body carries "Type"; a few of its answers do not (`untyped()`)

    def __init__(self, message: str, **extra: str):
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> bytes:
        doc = {"Type": self.fault} if self.typed else {}
        doc.update({self.message_key: self.message, **self.extra})
        return msgspec.json.encode(doc)

    def untyped(self) -> LambdaError:
        """This error without the body's "Type" member (AWS leaves it out of a few answers, e.g. the
        account concurrency limits)."""
        self.typed = False
        return self

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-amzn-errortype", self.error_type.encode()),
            (b"content-type", b"application/json"),
        ]


class _UserError(LambdaError):
    fault = "User"


class ValidationException(_UserError):
    status = 400
    error_type = "ValidationException"

    def body(self) -> bytes:
        # AWS's model-validation errors carry a lower-case "message" and no Type.
        return msgspec.json.encode({"message": self.message})


class InvalidParameterValueException(_UserError):
    status = 400
    error_type = "InvalidParameterValueException"
    message_key = "message"


class InvalidRequestContentException(_UserError):
    status = 400
    error_type = "InvalidRequestContentException"
    message_key = "message"


class ResourceNotFoundException(_UserError):
    status = 404
    error_type = "ResourceNotFoundException"


class ResourceConflictException(_UserError):
    status = 409
    error_type = "ResourceConflictException"
    message_key = "message"


class ResourceInUseException(_UserError):
    status = 400
    error_type = "ResourceInUseException"


class PreconditionFailedException(_UserError):
    status = 412
    error_type = "PreconditionFailedException"
    message_key = "message"


class PolicyLengthExceededException(_UserError):
    status = 400
    error_type = "PolicyLengthExceededException"
    message_key = "message"


class ProvisionedConcurrencyConfigNotFoundException(_UserError):
    status = 404
    error_type = "ProvisionedConcurrencyConfigNotFoundException"
    message_key = "message"


class RequestTooLargeException(_UserError):
    status = 413
    error_type = "RequestTooLargeException"
    message_key = "message"


class RequestEntityTooLargeException(_UserError):
    status = 413
    error_type = "RequestEntityTooLargeException"


class TooManyRequestsException(_UserError):
    status = 429
    error_type = "TooManyRequestsException"
    message_key = "message"

    def __init__(self, message: str, reason: str, retry_after_s: int = 1):
        super().__init__(message, Reason=reason, retryAfterSeconds=str(retry_after_s))


class RecursiveInvocationException(_UserError):
    """Recursive loop detection stopped an invocation (the model's words are the message)."""

    status = 400
    error_type = "RecursiveInvocationException"
    MESSAGE = ("Lambda has detected your function being invoked in a recursive loop with other AWS resources and "
               "stopped your function's invocation.")


class CodeSigningConfigNotFoundException(_UserError):
    status = 404
    error_type = "CodeSigningConfigNotFoundException"


class UnknownOperationException(_UserError):
    status = 404
    error_type = "UnknownOperationException"


class InvalidZipFileException(LambdaError):
    """Invoke's answer when the function's stored code (or a layer's) cannot be had (AWS: 502)."""

    status = 502
    error_type = "InvalidZipFileException"


class InvalidRuntimeException(LambdaError):
    """Invoke's answer when the function's runtime cannot be run (AWS: 502)."""

    status = 502
    error_type = "InvalidRuntimeException"


class ServiceException(LambdaError):
    status = 500
    error_type = "ServiceException"


# ------------------------------------------------------------------ EventBridge (AWS JSON 1.1)
class EventBridgeError(LambdaError):
    """An error EventBridge's API answers: HTTP 400 (500 for InternalException) with a JSON 1.1 body,
    `{"__type": "<ErrorType>", "message": "..."}`. Where Lambda has an error of the same AWS name, the
    class name says EventBridge (`error_type` is the name on the wire)."""

    status = 400
    error_type = "ValidationException"
    fault = "User"

    def body(self) -> bytes:
        return msgspec.json.encode({"__type": self.error_type, "message": self.message})

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-amzn-errortype", self.error_type.encode()),
            (b"content-type", b"application/x-amz-json-1.1"),
        ]


class EventBridgeValidationException(EventBridgeError):
    error_type = "ValidationException"


class EventBridgeResourceNotFoundException(EventBridgeError):
    error_type = "ResourceNotFoundException"


class EventBridgeUnknownOperationException(EventBridgeError):
    error_type = "UnknownOperationException"


class ResourceAlreadyExistsException(EventBridgeError):
    error_type = "ResourceAlreadyExistsException"


class InvalidEventPatternException(EventBridgeError):
    error_type = "InvalidEventPatternException"


class LimitExceededException(EventBridgeError):
    error_type = "LimitExceededException"


class SerializationException(EventBridgeError):
    error_type = "SerializationException"


class InternalException(EventBridgeError):
    status = 500
    error_type = "InternalException"


def validation_message(problems: list[str]) -> str:
    """AWS's "N validation error(s) detected: ..." text of a ValidationException."""
    noun = "error" if len(problems) == 1 else "errors"
    return f"{len(problems)} validation {noun} detected: " + "; ".join(problems)

