"""Numbered SQL migrations, applied once each, in order, under an advisory lock.

``sql/migrations/NNNN_name.sql`` applies in both modes; ``NNNN_name.timescale.sql`` only in
TimescaleDB mode and ``NNNN_name.postgres.sql`` only in PostgreSQL mode. A version is
recorded in ``schema_migrations`` with the mode it was applied in and the checksum of its
files, so an edited migration is reported instead of silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg

from hr_assets.warehouse.db import Mode, connect, detect_mode, newer_schema
from hr_assets.warehouse.migration_files import FILE_RE as _FILE_RE
from hr_assets.warehouse.migration_files import MIGRATIONS_DIR as MIGRATIONS_DIR
from hr_assets.warehouse.migration_files import latest_version as latest_version

log = logging.getLogger(__name__)

# Arbitrary constant identifying "hr-pipeline schema migration" among advisory locks.
MIGRATION_LOCK_KEY = 0x68725F6D6967  # "hr_mig"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    files: tuple[Path, ...]

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(path.read_bytes())
        return digest.hexdigest()


def discover(mode: Mode, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations that apply in ``mode``, in version order."""
    by_version: dict[int, tuple[str, list[Path]]] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name[.timescale|.postgres].sql")
        only = match["mode"]
        if (only == "timescale" and mode is not Mode.TIMESCALEDB) or (only == "postgres" and mode is not Mode.POSTGRES):
            continue
        version = int(match["version"])
        name, files = by_version.setdefault(version, (match["name"], []))
        if name != match["name"]:
            raise MigrationError(f"version {version:04d} has two names: {name!r} and {match['name']!r}")
        files.append(path)
    # The common file before its mode-specific companion.
    return [
        Migration(v, name, tuple(sorted(files, key=lambda p: p.name.count("."))))
        for v, (name, files) in sorted(by_version.items())
    ]


def migrate(url: str, wanted_mode: str | None = None, directory: Path = MIGRATIONS_DIR) -> tuple[Mode, list[str]]:
    """Apply pending migrations of ``directory`` (the project's own by default); return the mode and the names of
    those applied now.

    ``wanted_mode`` (default HR_WAREHOUSE_MODE) decides the mode of a database migrated for the
    first time; see :func:`hr_assets.warehouse.db.detect_mode`.

    Safe to run from several processes at once: the advisory lock makes the others wait,
    and they then find nothing left to do.
    """
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            return _migrate_locked(conn, wanted_mode, directory)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _migrate_locked(conn: psycopg.Connection, wanted_mode: str | None, directory: Path) -> tuple[Mode, list[str]]:
    mode = detect_mode(conn, wanted_mode)
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version     integer PRIMARY KEY,
               name        text        NOT NULL,
               mode        text        NOT NULL,
               checksum    text        NOT NULL,
               applied_at  timestamptz NOT NULL DEFAULT now())"""
    )
    applied = {v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()}
    known = latest_version(directory)
    if max(applied, default=0) > known:
        raise MigrationError(newer_schema(max(applied), known))
    done: list[str] = []
    for migration in discover(mode, directory):
        label = f"{migration.version:04d}_{migration.name}"
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                log.warning("migration %s changed after it was applied; not re-applied", label)
            continue
        with conn.transaction():
            for path in migration.files:
                try:
                    conn.execute(path.read_text())  # a trusted file from sql/
                except psycopg.Error as exc:
                    raise MigrationError(f"{path.name}: {exc}") from exc
            conn.execute(
                "INSERT INTO schema_migrations (version, name, mode, checksum) VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, mode.value, migration.checksum),
            )
        log.info("applied migration %s (%s mode)", label, mode.value)
        done.append(label)
    return mode, done
