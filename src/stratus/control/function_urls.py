"""Function URLs (Create/Get/Update/Delete/ListFunctionUrlConfigs), as Lambda keeps them.

A function and each of its aliases may have one URL (never a version, nor `$LATEST` by name: the model's
qualifier pattern refuses digits and `$`). Each is a store document of kind "function-url" keyed
`"<function>:<alias or empty>"`, also kept in memory by key and by url-id, so the front door finds a
request's URL with one dict lookup. Deleting an alias deletes its URL, deleting the function all of them
(an owned kind); a URL records its function's `created_ms`, so none outlives a function deleted and
re-created under its name. The url-id is 32 random lower-case letters and digits, as AWS's are.
"""

from __future__ import annotations

import collections
import functools
import secrets
import socket
import string
import time
from dataclasses import dataclass

import msgspec

from stratus.config import Settings
from stratus.control.functions import FunctionService
from stratus.control.paging import paginate
from stratus.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from stratus.frontdoor.door import URL_PREFIX
from stratus.shapes import (
    FunctionUrlConfig,
    FunctionUrlConfigRequest,
    FunctionUrlDocument,
    ListFunctionUrlConfigsResponse,
)

KIND = "function-url"
_ALPHABET = string.ascii_lowercase + string.digits
_NO_RESOURCE = "The resource you requested does not exist."
_NO_FUNCTION = "Function does not exist"
_decode = msgspec.json.Decoder(FunctionUrlDocument).decode


def url_time(t: float | None = None) -> str:
    """Function URL timestamps as AWS writes them: 2024-01-31T12:34:56.789012Z."""
    moment = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1e6) % 1_000_000:06d}Z"


@dataclass(frozen=True, slots=True)
class UrlTarget:
    """What the front door needs of a URL: the function (and alias) it invokes, and how."""

    url_id: str
    function_name: str
    qualifier: str | None
    function_arn: str  # qualified by the alias when there is one (the resource policies are checked on it)
    auth_type: str
    cors: object | None  # shapes.Cors
    invoke_mode: str


_DELETED_KEPT = 10_000  # deleted url-ids remembered (for AWS's answer to them)


class FunctionUrlService:
    """The Function URL operations; every public coroutine is one API operation."""

    def __init__(self, settings: Settings, functions: FunctionService):
        self.settings = settings
        self.functions = functions
        self.arns = functions.arns
        self._by_key: dict[str, FunctionUrlDocument] = {}
        self._by_id: dict[str, UrlTarget] = {}
        # url-ids deleted since start (bounded, oldest forgotten first): AWS answers them "Forbidden" where an
        # id that never existed gets {"Message": null}.
        self._deleted: collections.OrderedDict[str, None] = collections.OrderedDict()
        functions.owned_kinds.append(KIND)
        functions.on_qualifier_deleted.append(self.forget)
        functions.on_function_deleted.append(self._forget_function)

    async def load(self) -> None:
        """Read every URL into memory (at start-up, after the functions)."""
        for key, body in await self.functions.store.list_documents(KIND):
            self._remember(key, _decode(body))

    def url(self, url_id: str) -> str:
        """The FunctionUrl of a url-id: http(s)://<url-id>.lambda-url.<region>.localhost:<port>/, or in the path
        form <public endpoint>/_stratus/url/<url-id>/ (Settings.function_url_style)."""
        if not self._host_style:
            return f"{self.settings.public_endpoint}{URL_PREFIX}{url_id}/"
        scheme = "https" if self.settings.tls_cert else "http"
        port = self.settings.port
        default = 443 if scheme == "https" else 80
        netloc = f"{url_id}.lambda-url.{self.settings.region}.localhost" + ("" if port == default else f":{port}")
        return f"{scheme}://{netloc}/"

    @functools.cached_property
    def _host_style(self) -> bool:
        style = self.settings.function_url_style
        return style == "host" or (style != "path" and localhost_names_resolve())

    def target(self, url_id: str) -> UrlTarget | None:
        """The URL with this id (the front door's lookup), or None."""
        return self._by_id.get(url_id)

    def was_deleted(self, url_id: str) -> bool:
        """Whether the URL with this id existed and was deleted (with its alias or function, or by itself)."""
        return url_id in self._deleted

    def _tombstone(self, url_id: str) -> None:
        self._deleted[url_id] = None
        if len(self._deleted) > _DELETED_KEPT:
            self._deleted.popitem(last=False)

    # ------------------------------------------------------------------ operations
    async def create(self, reference: str, qualifier: str | None,
                     request: FunctionUrlConfigRequest) -> FunctionUrlConfig:
        async with self.functions.lock:
            name, qualifier, created_ms = self._function(reference, qualifier, _NO_FUNCTION)
            key = _key(name, qualifier)
            if key in self._by_key:
                raise ResourceConflictException(
                    f"Failed to create function url config for [functionArn = {self.arns.function(name, qualifier)}]."
                    " Error message:  FunctionUrlConfig exists for this Lambda function")
            now = url_time()
            url_id = "".join(secrets.choice(_ALPHABET) for _ in range(32))
            while url_id in self._by_id:
                url_id = "".join(secrets.choice(_ALPHABET) for _ in range(32))
            document = FunctionUrlDocument(
                url_id=url_id, function_name=name, qualifier=qualifier, AuthType=request.AuthType or "NONE",
                CreationTime=now, LastModifiedTime=now, created_ms=created_ms, Cors=request.Cors,
                InvokeMode=request.InvokeMode)
            await self._save(key, document)
            described = self._describe(document)
            return msgspec.structs.replace(described, LastModifiedTime=None, InvokeMode=document.InvokeMode)

    async def update(self, reference: str, qualifier: str | None,
                     request: FunctionUrlConfigRequest) -> FunctionUrlConfig:
        async with self.functions.lock:
            name, qualifier, created_ms = self._function(reference, qualifier, _NO_FUNCTION)
            current = self._current(name, qualifier, created_ms)
            changes: dict[str, object] = {"LastModifiedTime": url_time()}
            if request.AuthType is not None:
                changes["AuthType"] = request.AuthType
            if request.Cors is not None:
                changes["Cors"] = request.Cors
            if request.InvokeMode is not None:
                changes["InvokeMode"] = request.InvokeMode
            document = msgspec.structs.replace(current, **changes)
            await self._save(_key(name, qualifier), document)
            return msgspec.structs.replace(self._describe(document), InvokeMode=document.InvokeMode)

    async def get(self, reference: str, qualifier: str | None) -> FunctionUrlConfig:
        name, qualifier, created_ms = self._function(reference, qualifier, _NO_RESOURCE)
        return self._describe(self._current(name, qualifier, created_ms))

    async def delete(self, reference: str, qualifier: str | None) -> None:
        async with self.functions.lock:
            name, qualifier, created_ms = self._function(reference, qualifier, _NO_RESOURCE)
            self._current(name, qualifier, created_ms)
            await self._drop(_key(name, qualifier))

    async def list(self, reference: str, marker: str | None, max_items: int | None) -> ListFunctionUrlConfigsResponse:
        name, qualifier = self.arns.resolve(reference)
        try:
            record, _, _ = self.functions.lookup(name, qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(_NO_FUNCTION) from None
        items = [self._describe(document) for key, document in self._by_key.items()
                 if document.function_name == name and document.created_ms == record.created_ms]
        items.sort(key=lambda item: item.FunctionArn)
        page, next_marker = paginate(items, marker, max_items, lambda item: item.FunctionArn)
        return ListFunctionUrlConfigsResponse(FunctionUrlConfigs=page, NextMarker=next_marker)

    async def forget(self, name: str, qualifier: str) -> None:
        """A deleted alias takes its URL along (functions.lock held)."""
        key = _key(name, qualifier)
        if key in self._by_key:
            await self._drop(key)

    # ------------------------------------------------------------------ internals
    def _function(self, reference: str, qualifier: str | None, missing: str) -> tuple[str, str | None, int]:
        """(name, alias or None, created_ms) of the function or alias a URL operation names."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        try:
            record, _, alias = self.functions.lookup(name, qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(missing) from None
        if qualifier is not None and alias is None:  # a version through an ARN: the model refused it by name
            raise InvalidParameterValueException(f"Qualifier {qualifier} is not an alias: Function URLs are "
                                                 "for a function or an alias.")
        latest, _, _ = self.functions.lookup(name)
        return name, qualifier, latest.created_ms

    def _current(self, name: str, qualifier: str | None, created_ms: int) -> FunctionUrlDocument:
        document = self._by_key.get(_key(name, qualifier))
        if document is None or document.created_ms != created_ms:
            raise ResourceNotFoundException(_NO_RESOURCE)
        return document

    async def _save(self, key: str, document: FunctionUrlDocument) -> None:
        await self.functions.store.apply(puts=[(KIND, key, msgspec.json.encode(document))])
        self._remember(key, document)

    def _remember(self, key: str, document: FunctionUrlDocument) -> None:
        self._by_key[key] = document
        self._by_id[document.url_id] = UrlTarget(
            document.url_id, document.function_name, document.qualifier,
            self.arns.function(document.function_name, document.qualifier), document.AuthType, document.Cors,
            document.InvokeMode or "BUFFERED")

    async def _drop(self, key: str) -> None:
        await self.functions.store.apply(deletes=[(KIND, key)])
        document = self._by_key.pop(key)
        self._by_id.pop(document.url_id, None)
        self._tombstone(document.url_id)

    def _forget_function(self, name: str) -> None:
        for key in [key for key, document in self._by_key.items() if document.function_name == name]:
            url_id = self._by_key.pop(key).url_id
            self._by_id.pop(url_id, None)
            self._tombstone(url_id)

    def _describe(self, document: FunctionUrlDocument) -> FunctionUrlConfig:
        return FunctionUrlConfig(
            FunctionUrl=self.url(document.url_id),
            FunctionArn=self.arns.function(document.function_name, document.qualifier),
            AuthType=document.AuthType, Cors=document.Cors, CreationTime=document.CreationTime,
            LastModifiedTime=document.LastModifiedTime, InvokeMode=document.InvokeMode or "BUFFERED")


def _key(name: str, qualifier: str | None) -> str:
    return f"{name}:{qualifier or ''}"


def localhost_names_resolve() -> bool:
    """Whether this machine resolves a name under .localhost (RFC 6761) to an address (looked up once)."""
    try:
        socket.getaddrinfo("stratus-probe.lambda-url.localhost", None)
    except OSError:
        return False
    return True
