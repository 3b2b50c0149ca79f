"""Deployment packages from S3 (`Code.S3Bucket/S3Key/S3ObjectVersion` of CreateFunction, the same members of
UpdateFunctionCode, `Content.S3*` of PublishLayerVersion): a GetObject on the S3 endpoint that
STRATUS_SERVICE_ENDPOINTS names (`s3=<url>` or `*=<url>`: MinIO, moto or AWS itself), with the service
credentials of the settings.

The bytes are fetched once and stored like an uploaded zip: `Code.Location` serves Stratus's copy, never the
object. S3's refusals reach the caller as AWS words them ("Error occurred while GetObject. S3 Error Code: ...").
`fetch` blocks (a worker thread runs it).
"""

from __future__ import annotations

from stratus.config import Settings
from stratus.deploy.artifacts import BUCKET as ARTIFACTS_BUCKET
from stratus.deploy.artifacts import Artifacts
from stratus.errors import InvalidParameterValueException, ServiceException
from stratus.service_clients import ServiceClients

NO_ENDPOINT = ("Code from S3 needs an S3 endpoint: set STRATUS_SERVICE_ENDPOINTS to 's3=<url>' (or '*=<url>') "
               "naming an S3-compatible server (AWS S3, MinIO, moto), with STRATUS_SERVICE_ACCESS_KEY_ID and "
               "STRATUS_SERVICE_SECRET_ACCESS_KEY; or upload the .zip in ZipFile.")


class S3Code:
    """GetObject of deployment packages, within the unzipped code limit (a larger object is refused unread)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._clients = ServiceClients(settings, read_timeout=60, s3={"addressing_style": "path"})
        self.artifacts = Artifacts(settings.artifacts_dir)  # bucket `_stratus`: the deploy's uploads

    def fetch(self, bucket: str, key: str, version: str | None) -> bytes:
        """The object's bytes (blocking); InvalidParameterValueException as AWS answers S3's refusals."""
        from botocore.exceptions import BotoCoreError, ClientError  # with the client: most never fetch from S3

        limit = self.settings.unzipped_code_max_bytes
        if bucket == ARTIFACTS_BUCKET:  # `s3://_stratus/<sha256>` (api/stacks.py's uploads; no S3 endpoint needed)
            data = self.artifacts.read(key, limit)
            if data is None:
                raise InvalidParameterValueException(
                    "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key "
                    f"does not exist. (no artifact {key}: upload it with PUT /_stratus/artifacts/{key})")
            if len(data) > limit:
                raise InvalidParameterValueException(f"Unzipped size must be smaller than {limit} bytes")
            return data
        endpoint = self.settings.service_endpoint("s3")
        if not endpoint:
            raise InvalidParameterValueException(NO_ENDPOINT)
        extra = {"VersionId": version} if version else {}
        try:
            response = self._clients.client("s3").get_object(Bucket=bucket, Key=key, **extra)
            body = response["Body"]
            try:
                length = response.get("ContentLength")
                data = None if length is not None and length > limit else body.read(limit + 1)
            finally:
                body.close()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise InvalidParameterValueException(
                f"Error occurred while GetObject. S3 Error Code: {error.get('Code')}. "
                f"S3 Error Message: {error.get('Message')}") from None
        except BotoCoreError as exc:  # the endpoint is unreachable or answers nonsense: the operator's to fix
            raise ServiceException(f"Error occurred while GetObject from the S3 endpoint {endpoint}: {exc}") from None
        if data is None or len(data) > limit:
            raise InvalidParameterValueException(f"Unzipped size must be smaller than {limit} bytes")
        return data
