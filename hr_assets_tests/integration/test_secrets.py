"""The warehouse password stays out of what failures print: exception messages, tracebacks, the
command line's errors, the repr of the embedded server. (The fault tests search the console
output, Dagster's event log and the instance's files of real runs for it too.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import psycopg
import pytest

from hr_assets.local import localdb
from hr_assets.warehouse.db import connect, is_transient
from hr_assets.warehouse.urls import passwords, redact

SECRET = "S3cr3t-Pw_9x"


def _everything_printed(exc: BaseException) -> str:
    """What a traceback of ``exc`` shows, its causes and contexts included."""
    return "".join(traceback.format_exception(exc))


def test_a_refused_connection_says_where_but_not_the_password() -> None:
    port = localdb.free_port()  # nothing listens there
    with pytest.raises(psycopg.OperationalError) as refused:
        connect(f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/hr")
    printed = _everything_printed(refused.value)
    assert SECRET not in printed
    assert f'connection to server at "127.0.0.1", port {port} failed: Connection refused' in str(refused.value)
    assert is_transient(refused.value)  # still retried


def test_a_wrong_password_is_not_repeated(pg_server: localdb.LocalServer) -> None:
    with pytest.raises(psycopg.OperationalError) as refused:
        connect(f"postgresql://postgres:{SECRET}@127.0.0.1:{pg_server.port}/postgres")
    assert 'password authentication failed for user "postgres"' in str(refused.value)
    assert SECRET not in _everything_printed(refused.value) and pg_server.password not in repr(pg_server)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # libpq repeats these URLs whole in its error.
        (f"postgresql://postgres:{SECRET}@[::1/hr", 'matching "]" in IPv6 host address in URI'),
        (f"postgresql://postgres:{SECRET}@[::1]x/hr", 'unexpected character "x"'),
        (f"postgresql://postgres:{SECRET}@[]/hr", "IPv6 host address may not be empty"),
    ],
)
def test_a_url_libpq_cannot_read_is_repeated_without_its_password(url: str, says: str) -> None:
    with pytest.raises(psycopg.ProgrammingError) as unreadable:
        connect(url)
    assert says in str(unreadable.value)
    assert SECRET not in _everything_printed(unreadable.value)
    assert not is_transient(unreadable.value)  # a configuration error: never retried


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        (f"postgresql://postgres:{SECRET}@db:5432/hr", [SECRET]),
        ("postgresql://hr:p%40ss%3Aw@db/hr", ["p%40ss%3Aw", "p@ss:w"]),
        ("postgresql://hr@db/hr?password=hidden&sslmode=require", ["hidden"]),
        ("host=db user=hr password='it\\'s secret' dbname=hr", ["it\\'s secret", "it's secret"]),
        ("host=db user=hr password=plain dbname=hr", ["plain"]),
        ("postgresql://db/hr", []),
    ],
)
def test_the_passwords_a_url_carries(url: str, secrets: list[str]) -> None:
    assert sorted(passwords(url)) == sorted(secrets)
    assert all(secret not in redact(f"failed for {url}", url) for secret in secrets)


def _hr(*args: str, url: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HR_", "DAGSTER_"))}
    env |= {"HR_DATABASE_URL": url, "HR_HOME": str(home)}
    hr = str(Path(sys.executable).parent / "hr")
    return subprocess.run([hr, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    "args",
    [
        ("setup",),
        ("env",),
        ("dagster", "asset", "materialize", "-m", "hr_assets.definitions", "--select", "*", "--partition", "x"),
    ],
)
def test_the_command_line_refuses_an_unreadable_url_without_printing_its_password(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = _hr(*args, url=f"postgresql://postgres:{SECRET}@[::1/hr", home=tmp_path / "hr")
    assert done.returncode == 1
    assert SECRET not in done.stdout + done.stderr
    assert done.stderr.startswith("Error: HR_DATABASE_URL is not a PostgreSQL URL: end of string reached"), done.stderr
    assert "Traceback" not in done.stderr
