"""Remote enrolment's secrets, links and QR codes: plain functions, no database.

A participant enrols from a one-time link ``HR_PUBLIC_URL/enroll/<token>`` (``hr users invite``)
and can later withdraw from a link of their own ``HR_PUBLIC_URL/enroll/withdraw/<secret>``. Both
secrets are random (:data:`SECRET_BYTES`), shown once, and stored only as their SHA-256
(:func:`hr_assets.warehouse.invitations.secret_hash`): the database never holds a usable link. They
are looked up by that hash, so how long a lookup takes says nothing about how much of a guessed
token was right.

The consent behind the link uses the operator's *Web application* OAuth client
(``HR_GOOGLE_WEB_CLIENT_ID``/``_SECRET``), whose authorised redirect URI is
``HR_PUBLIC_URL/enroll/callback`` (:func:`redirect_uri`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import segno

from hr_assets.settings import HrSettings
from hr_assets.sources.base import SourceError

# 24 random bytes: 192 bits, above the 128 an unguessable capability needs (OWASP's session id advice);
# 32 URL-safe characters, short enough for a QR code a phone reads from paper.
SECRET_BYTES = 24
ENROL_PATH = "/enroll"
CALLBACK_PATH = f"{ENROL_PATH}/callback"
WITHDRAW_PATH = f"{ENROL_PATH}/withdraw"
# How long an invitation works unless `--expires-in` says otherwise: two weeks for a study's mail-out.
DEFAULT_INVITATION_LIFETIME = timedelta(days=14)
# Longest lifetime accepted: an invitation is a capability, and a year-old one lying in a mailbox is a risk.
MAX_INVITATION_LIFETIME = timedelta(days=90)
# QR codes: error correction M (15 % of the symbol recoverable: a creased printout still reads) and a
# PNG scale of 8 pixels a module (a version-4 symbol is about 300 px wide, plenty for a phone camera).
QR_ERROR = "m"
QR_PNG_SCALE = 8
# The path of a secret in a link: what the logs must never show (URL-safe base64 of SECRET_BYTES).
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_LIFETIME_RE = re.compile(r"\A(\d{1,4})([dhm])\Z")
_LIFETIME_UNITS = {"d": "days", "h": "hours", "m": "minutes"}

OAuthClientKind = Literal["installed", "web"]


def new_secret() -> str:
    """A fresh invitation token or withdrawal secret (URL-safe)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def looks_like_secret(text: str) -> bool:
    """Whether ``text`` has the shape of a secret (a path that cannot be one is not looked up)."""
    return SECRET_RE.fullmatch(text) is not None


def parse_lifetime(text: str) -> timedelta:
    """``14d``, ``36h`` or ``90m`` as a timedelta; ValueError saying what is accepted."""
    match = _LIFETIME_RE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r}: expected a number and a unit, such as 14d, 36h or 90m")
    lifetime = timedelta(**{_LIFETIME_UNITS[match[2]]: int(match[1])})
    if not timedelta(0) < lifetime <= MAX_INVITATION_LIFETIME:
        raise ValueError(f"{text!r}: an invitation lasts more than 0 and at most {MAX_INVITATION_LIFETIME.days} days")
    return lifetime


def public_url(settings: HrSettings) -> str:
    """HR_PUBLIC_URL without a trailing slash; SourceError when it is not set."""
    if not settings.public_url:
        raise SourceError(
            "HR_PUBLIC_URL is not set: the address participants reach the enrolment pages at, such as "
            "https://study.example.org (docs/enrolment.md)"
        )
    return settings.public_url.rstrip("/")


def invitation_link(settings: HrSettings, token: str) -> str:
    return f"{public_url(settings)}{ENROL_PATH}/{token}"


def withdrawal_link(settings: HrSettings, secret: str) -> str:
    return f"{public_url(settings)}{WITHDRAW_PATH}/{secret}"


def redirect_uri(settings: HrSettings) -> str:
    """The web client's authorised redirect URI, as registered in the Google Cloud console."""
    return f"{public_url(settings)}{CALLBACK_PATH}"


def is_https(settings: HrSettings) -> bool:
    return (settings.public_url or "").lower().startswith("https://")


@dataclass(frozen=True)
class QrFiles:
    svg: Path
    png: Path


def write_qr(link: str, stem: Path) -> QrFiles:
    """The QR code of ``link`` as ``<stem>.svg`` and ``<stem>.png`` (created 0600: each is a live invitation)."""
    code = segno.make(link, error=QR_ERROR, micro=False)
    files = QrFiles(stem.with_suffix(".svg"), stem.with_suffix(".png"))
    stem.parent.mkdir(parents=True, exist_ok=True)
    for path, kind in ((files.svg, "svg"), (files.png, "png")):
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        code.save(str(path), kind=kind, scale=QR_PNG_SCALE if kind == "png" else 1, border=4)
    return files
