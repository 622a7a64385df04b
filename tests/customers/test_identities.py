"""Identity values are stored one way only, whatever way they were typed."""

from __future__ import annotations

import pytest

from aftersales.core.errors import DomainError
from aftersales.customers.identities import normalise


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        pytest.param("phone", "138 1234 5678", "+8613812345678", id="_case_mobile_with_spaces"),
        pytest.param("phone", "138-1234-5678", "+8613812345678", id="_case_mobile_with_dashes"),
        pytest.param("phone", "+86 138 1234 5678", "+8613812345678", id="_case_with_plus"),
        pytest.param("phone", "008613812345678", "+8613812345678", id="_case_with_00"),
        pytest.param("phone", "8613812345678", "+8613812345678", id="_case_with_86"),
        pytest.param("phone", "010-6552 9988", "+861065529988", id="_case_beijing_landline"),
        pytest.param("phone", "+86 10 6552 9988", "+861065529988", id="_case_plus_landline"),
        pytest.param("phone", "+1 (415) 555-0100", "+14155550100", id="_case_foreign"),
        pytest.param("email", "  Li.Wei@Example.COM ", "li.wei@example.com", id="_case_email"),
        pytest.param("wechat_openid", " oX9a-Bc_12345 ", "oX9a-Bc_12345", id="_case_openid"),
        pytest.param("app_user_id", "User:42", "User:42", id="_case_app_user_keeps_case"),
    ],
)
def test_identity_values_are_normalised(kind: str, raw: str, expected: str) -> None:
    # given / when
    value = normalise(kind, raw)
    # then
    assert value == expected


@pytest.mark.parametrize(
    ("kind", "raw", "code"),
    [
        pytest.param("phone", "138 1234 567", "invalid_identity", id="_case_mobile_too_short"),
        pytest.param("phone", "call me", "invalid_identity", id="_case_letters"),
        pytest.param("phone", "12345", "invalid_identity", id="_case_too_few_digits"),
        pytest.param("email", "not-an-address", "invalid_identity", id="_case_email"),
        pytest.param("wechat_openid", "has space", "invalid_identity", id="_case_openid_space"),
        pytest.param("phone", "   ", "required", id="_case_blank"),
        pytest.param("fax", "123", "invalid_choice", id="_case_unknown_kind"),
    ],
)
def test_invalid_identity_values_are_refused(kind: str, raw: str, code: str) -> None:
    # given / when
    with pytest.raises(DomainError) as caught:
        normalise(kind, raw)
    # then
    assert caught.value.code == code
