"""Which addresses the query API may listen on (hr_assets.local.network)."""

from __future__ import annotations

import pytest

from hr_assets.local.network import is_loopback, open_api_refusal


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.org", ""])
def test_other_addresses_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_an_api_without_keys_is_refused_off_loopback_only() -> None:
    refusal = open_api_refusal("off", "0.0.0.0")
    assert refusal is not None and "allowed only on loopback, not 0.0.0.0" in refusal
    assert open_api_refusal("off", "127.0.0.1") is None
    assert open_api_refusal("keys", "0.0.0.0") is None
