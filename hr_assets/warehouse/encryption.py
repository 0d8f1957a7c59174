"""Encryption of secrets kept in the warehouse (refresh tokens), with a key the operator holds.

The key is a Fernet key (AES-128-CBC with HMAC-SHA256, from the ``cryptography`` package):
``HR_SECRET_KEY`` when set, else the file ``HR_HOME/secret.key``, created on first use with
mode 0600 (readable by the operator's account only). Losing the key loses the stored tokens,
not data: every user then reconnects. A database dump without the key holds no usable token.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from hr_assets.settings import get_settings

KEY_FILE_NAME = "secret.key"
KEY_FILE_MODE = 0o600


class SecretKeyError(RuntimeError):
    """The key is unusable, or a secret was encrypted with another key; the message says which."""


def key_file(home: Path | None = None) -> Path:
    return (home or get_settings().home) / KEY_FILE_NAME


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not each write their own key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    return key


def _fernet() -> Fernet:
    settings = get_settings()
    if settings.secret_key is not None:
        key, where = settings.secret_key.get_secret_value().encode(), "HR_SECRET_KEY"
    else:
        path = key_file(settings.home)
        key, where = _read_or_create_key_file(path), str(path)
    try:
        return Fernet(key)
    except ValueError as exc:
        raise SecretKeyError(
            f"{where} is not a Fernet key (32 url-safe base64-encoded bytes; make one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
        ) from exc


def encrypt(secret: str) -> bytes:
    """``secret`` encrypted and authenticated with the operator's key."""
    return _fernet().encrypt(secret.encode())


def decrypt(token: bytes) -> str:
    """The secret that :func:`encrypt` gave ``token`` for; SecretKeyError if the key is another one."""
    try:
        return _fernet().decrypt(token).decode()
    except InvalidToken:
        raise SecretKeyError(
            "a stored secret cannot be decrypted with the current key (HR_SECRET_KEY or HR_HOME/secret.key "
            "changed?): restore the key, or reconnect the user"
        ) from None
