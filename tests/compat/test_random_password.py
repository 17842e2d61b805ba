"""GetRandomPassword through the official new and old SDKs (spec/kms-api.md §7.6)."""

from __future__ import annotations

import string

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.GetRandomPasswordRequest import GetRandomPasswordRequest

from tests.compat.sdk import OldSdk, expect_error


def password(kms: Client, **fields: str) -> str:
    """GetRandomPassword with the given request fields → the password."""
    resp = kms.get_random_password(km.GetRandomPasswordRequest(**fields))
    assert resp.status_code == 200
    assert resp.body.request_id
    value: str = resp.body.random_password
    return value


def test_default_is_32_characters_of_every_type(kms: Client) -> None:
    value = password(kms)
    assert len(value) == 32
    for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        assert set(value) & set(chars)
    assert set(value) & set(string.punctuation)
    assert set(value) <= set(string.ascii_letters + string.digits + string.punctuation)


@pytest.mark.parametrize("length", ["8", "128", "64"])
def test_lengths(kms: Client, length: str) -> None:
    assert len(password(kms, password_length=length)) == int(length)


def test_exclusions(kms: Client) -> None:
    value = password(
        kms,
        password_length="128",
        exclude_lowercase="true",
        exclude_uppercase="True",
        exclude_punctuation="TRUE",
        exclude_numbers="false",
        exclude_characters="0123",
    )
    assert len(value) == 128
    assert set(value) <= set("456789")


def test_require_each_included_type_false(kms: Client) -> None:
    value = password(
        kms,
        password_length="8",
        exclude_characters=string.punctuation[1:],
        require_each_included_type="false",
    )
    assert len(value) == 8


@pytest.mark.parametrize("length", ["7", "129", "abc", "0", "-8"])
def test_bad_password_length(kms: Client, length: str) -> None:
    exc = expect_error("InvalidParameter", 400, lambda: password(kms, password_length=length))
    assert "PasswordLength" in exc.message


def test_bad_flag(kms: Client) -> None:
    expect_error("InvalidParameter", 400, lambda: password(kms, exclude_numbers="yes"))


def test_nothing_left(kms: Client) -> None:
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: password(
            kms,
            exclude_lowercase="true",
            exclude_uppercase="true",
            exclude_numbers="true",
            exclude_punctuation="true",
        ),
    )
    assert exc.request_id


def test_old_sdk(old: OldSdk) -> None:
    request = GetRandomPasswordRequest()
    request.set_PasswordLength("20")
    request.set_ExcludePunctuation("true")
    request.set_ExcludeCharacters("aA")
    request.set_RequireEachIncludedType("true")
    body = old.call(request)
    assert body["RequestId"]
    value = body["RandomPassword"]
    assert len(value) == 20
    assert not set(value) & set(string.punctuation + "aA")
    for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        assert set(value) & set(chars)


def test_old_sdk_default(old: OldSdk) -> None:
    assert len(old.call(GetRandomPasswordRequest())["RandomPassword"]) == 32


@pytest.mark.parametrize("length", ["7", "129", "abc"])
def test_old_sdk_bad_length(old: OldSdk, length: str) -> None:
    request = GetRandomPasswordRequest()
    request.set_PasswordLength(length)
    with pytest.raises(ServerException) as info:
        old.call(request)
    assert (info.value.get_error_code(), info.value.get_http_status()) == (
        "InvalidParameter",
        400,
    )
