"""Database URLs in messages: the password a URL carries never shows.

libpq repeats a URL it cannot parse in its error (``... in URI: "postgresql://hr:secret@[::1/hr"``),
and such errors reach logs, Dagster's event log and alert webhooks.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict

MASK = "***"
# The userinfo of a URL, ``scheme://user:password@``: everything up to the last '@' of the authority.
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?P<userinfo>[^/?#]*)@")
# password=... in a key=value connection string (quoted or not), or in a URL's query.
_PASSWORD_PARAMETER = re.compile(r"password\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'|(?P<bare>[^\s&]+))")


def passwords(url: str) -> list[str]:
    """The password(s) ``url`` carries, as written and percent-decoded, longest first."""
    found: set[str] = set()
    userinfo = _USERINFO.match(url)
    if userinfo and ":" in userinfo["userinfo"]:
        found.add(userinfo["userinfo"].split(":", 1)[1])
    for parameter in _PASSWORD_PARAMETER.finditer(url):
        if parameter["quoted"] is not None:
            found |= {parameter["quoted"], re.sub(r"\\(.)", r"\1", parameter["quoted"])}  # as written, unescaped
        else:
            found.add(parameter["bare"])
    found |= {unquote(secret) for secret in found}
    return sorted((secret for secret in found if secret), key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """``text`` with every password of ``url`` replaced by MASK."""
    for secret in passwords(url):
        text = text.replace(secret, MASK)
    return text


# SQLAlchemy's spelling of a driver in the scheme (postgresql+psycopg2://), which libpq does not know.
_DRIVER = re.compile(r"^(postgres(?:ql)?)\+[A-Za-z0-9_]+://")


def unreadable(url: str) -> str | None:
    """Why libpq cannot read ``url`` (password masked), or None when it can (a driver in the scheme aside)."""
    try:
        conninfo_to_dict(_DRIVER.sub(r"\1://", url))
    except psycopg.Error as exc:
        return redact(str(exc).strip(), url)
    return None
