"""The web-origin rules, the presigned code URLs and the `\\p{..}` pattern translation, without a server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.requests import Request

from stratus.api.code_urls import CodeUrls
from stratus.api.origins import ForbiddenRequestException, PublicUrlError, WebOrigins
from stratus.api.validation import translate_properties
from stratus.config import Settings, is_loopback_host


def origins(**settings) -> WebOrigins:
    return WebOrigins(Settings(**settings))


@pytest.mark.parametrize("host", [b"127.0.0.1:8421", b"localhost:8421", b"[::1]:8421", b"LocalHost:8421"])
def test_own_hosts_pass(host):
    origins().check({b"host": host})


@pytest.mark.parametrize("host", [b"evil.example:8421", b"127.0.0.1:8422", b"localhost", b"127.0.0.2:8421",
                                  b"x.lambda-url.eu-west-1.localhost:8421", b"a.b.lambda-url.us-east-1.localhost:8421",
                                  b"localhost:8421\x00evil",
                                  # Function URL hosts are the front door's: the control API never answers them
                                  b"0123abcd.lambda-url.us-east-1.localhost:8421"])
def test_foreign_hosts_are_refused(host):
    with pytest.raises(ForbiddenRequestException) as refused:
        origins().check({b"host": host})
    assert refused.value.status == 403


def test_a_request_without_host_passes_and_without_origin_passes():
    origins().check({})


@pytest.mark.parametrize("headers", [{b"origin": b"http://evil.example"}, {b"origin": b"null"},
                                     {b"origin": b"http://127.0.0.1:8421.evil.example"},
                                     {b"sec-fetch-site": b"cross-site"}, {b"sec-fetch-site": b"same-site"}])
def test_foreign_browser_requests_are_refused(headers):
    with pytest.raises(ForbiddenRequestException):
        origins().check({b"host": b"127.0.0.1:8421", **headers})


def test_own_origin_passes():
    origins().check({b"host": b"127.0.0.1:8421", b"origin": b"http://127.0.0.1:8421",
                     b"sec-fetch-site": b"same-origin"})
    origins().check({b"host": b"localhost:8421", b"origin": b"http://localhost:8421", b"sec-fetch-site": b"none"})


def test_public_url_adds_its_host_and_origin():
    public = origins(public_url="https://Stratus.Example.com/")
    public.check({b"host": b"stratus.example.com", b"origin": b"https://stratus.example.com"})
    with pytest.raises(ForbiddenRequestException):
        public.check({b"host": b"stratus.example.com", b"origin": b"http://stratus.example.com"})
    origins(public_url="http://10.0.0.5:9000").check({b"host": b"10.0.0.5:9000", b"origin": b"http://10.0.0.5:9000"})


def test_a_specific_listen_address_is_an_own_name_and_a_wildcard_is_not():
    origins(host="192.168.1.5").check({b"host": b"192.168.1.5:8421"})
    with pytest.raises(ForbiddenRequestException):
        origins(host="0.0.0.0").check({b"host": b"0.0.0.0:8421"})


@pytest.mark.parametrize("url", ["ftp://x", "http://", "http://x/path", "http://x?q=1", "http://u:p@x", "x.example"])
def test_a_bad_public_url_is_refused(url):
    with pytest.raises(PublicUrlError):
        origins(public_url=url)


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                ("192.168.1.5", False), ("example.com", False)])
def test_loopback_listen_addresses(host, loopback):
    assert is_loopback_host(host) is loopback


def download_request(url: str) -> Request:
    path, _, query = url.split("://", 1)[1].partition("/")[2].partition("?")
    return Request({"type": "http", "method": "GET", "path": "/" + path, "query_string": query.encode(),
                    "headers": []})


def test_code_urls_sign_verify_and_expire(tmp_path: Path):
    now = [1_000_000.0]
    urls = CodeUrls(Settings(data_dir=tmp_path, public_url="https://s.example"), clock=lambda: now[0])
    url = urls.url("ab" * 32)
    assert url.startswith("https://s.example/_stratus/code/" + "ab" * 32 + "?X-Stratus-Expires=1000600&")
    assert urls.refusal(download_request(url)) is None
    assert urls.refusal(download_request(url.replace("ab" * 32, "cd" * 32))).status_code == 403
    assert urls.refusal(download_request(url[:-1] + ("0" if url[-1] != "0" else "1"))).status_code == 403
    assert urls.refusal(download_request(url.replace("1000600", "1000601"))).status_code == 403
    now[0] += 601
    assert b"Request has expired" in urls.refusal(download_request(url)).body
    other = CodeUrls(Settings(data_dir=tmp_path / "other"), clock=lambda: 0)  # another data dir, another key
    assert other.refusal(download_request(urls.url("ab" * 32))) is not None


def test_unicode_property_classes_translate_exactly():
    pattern = re.compile(translate_properties(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"))
    assert pattern.fullmatch("tag:Name ünï 名字 ٣\u00a0x")
    assert not pattern.fullmatch("tag$Name") and not pattern.fullmatch("a\tb")
    assert re.fullmatch(translate_properties(r"\p{Lu}\P{L}+"), "A12")
    assert not re.fullmatch(translate_properties(r"\p{Lu}\P{L}+"), "a12")
    assert translate_properties(r"[\\p{L}]") == r"[\\p{L}]"  # an escaped backslash, then a plain "p{L}"
