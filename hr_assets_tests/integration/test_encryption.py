"""Secrets at rest: the operator's key (HR_SECRET_KEY or a 0600 key file) and the stored grants."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from hr_assets.settings import get_settings
from hr_assets.sources import SOURCES
from hr_assets.warehouse.encryption import SecretKeyError, decrypt, encrypt, key_file
from hr_assets.warehouse.tokens import delete_grant, load_grant, save_grant
from hr_assets.warehouse.users import NewUser, add_user

REFRESH_TOKEN = "1//0g-a-refresh-token-that-must-never-be-stored-in-clear"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HR_HOME", str(tmp_path / "hr"))
    monkeypatch.delenv("HR_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "hr"
    get_settings.cache_clear()


def test_round_trip_with_a_key_file_created_0600(home: Path) -> None:
    assert not key_file().exists()
    ciphertext = encrypt(REFRESH_TOKEN)
    assert REFRESH_TOKEN.encode() not in ciphertext
    assert decrypt(ciphertext) == REFRESH_TOKEN
    path = key_file()
    assert path == home / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Fernet(path.read_bytes().strip())  # a valid key
    # The same key from then on: what was encrypted before still decrypts, and the file is kept.
    before = path.read_bytes()
    assert decrypt(encrypt("again")) == "again" and decrypt(ciphertext) == REFRESH_TOKEN
    assert path.read_bytes() == before
    # Two encryptions of one secret differ (random IV), so equal tokens do not show in the table.
    assert encrypt(REFRESH_TOKEN) != encrypt(REFRESH_TOKEN)


def test_hr_secret_key_is_used_instead_of_a_key_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv("HR_SECRET_KEY", key.decode())
    get_settings.cache_clear()
    ciphertext = encrypt(REFRESH_TOKEN)
    assert Fernet(key).decrypt(ciphertext).decode() == REFRESH_TOKEN
    assert not key_file().exists()


def test_another_key_or_no_key_at_all_is_a_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ciphertext = encrypt(REFRESH_TOKEN)
    monkeypatch.setenv("HR_SECRET_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError, match="cannot be decrypted with the current key") as wrong:
        decrypt(ciphertext)
    assert REFRESH_TOKEN not in str(wrong.value)
    monkeypatch.setenv("HR_SECRET_KEY", "not-a-key")
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError, match="HR_SECRET_KEY is not a Fernet key"):
        encrypt(REFRESH_TOKEN)


def test_grants_are_stored_encrypted_and_replaced_on_reconnect(hr_home: Path, conn: psycopg.Connection) -> None:
    add_user(conn, NewUser("alice", "UTC", date(2026, 1, 1), source="google_health"), known_sources=SOURCES.kinds)
    assert load_grant(conn, "alice") is None
    save_grant(conn, "alice", REFRESH_TOKEN, ["scope.a", "scope.b"])

    [(stored, scopes)] = conn.execute("SELECT refresh_token_encrypted, scopes FROM google_health_tokens").fetchall()
    assert REFRESH_TOKEN.encode() not in bytes(stored) and scopes == "scope.a scope.b"
    grant = load_grant(conn, "alice")
    assert grant is not None and grant.refresh_token == REFRESH_TOKEN and grant.scopes == ("scope.a", "scope.b")
    assert REFRESH_TOKEN not in repr(grant)

    save_grant(conn, "alice", "1//another", ["scope.a"], reconnect=False)
    again = load_grant(conn, "alice")
    assert again is not None and again.refresh_token == "1//another" and again.connected_at == grant.connected_at
    assert delete_grant(conn, "alice") is True
    assert load_grant(conn, "alice") is None and delete_grant(conn, "alice") is False


def test_a_grant_needs_a_registered_user(hr_home: Path, conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        save_grant(conn, "nobody", REFRESH_TOKEN, [])
