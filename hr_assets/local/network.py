"""Which addresses a server may listen on: the rule shared by ``hr api`` and the ``hr-api`` process."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback, reachable from nowhere else."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_api_refusal(api_auth: str, host: str) -> str | None:
    """Why the query API must not listen on ``host`` with ``api_auth`` (HR_API_AUTH), or None when it may."""
    if api_auth == "off" and not is_loopback(host):
        return (
            f"HR_API_AUTH=off serves everyone's heart rate without a key: allowed only on loopback, not {host}. "
            "Set HR_API_AUTH=keys and make keys with `hr api-keys create`."
        )
    return None
