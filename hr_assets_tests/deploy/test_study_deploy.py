"""The audit log under the deployment's roles: the read-only role of docker/initdb (hr_reader, the API's) may
append audit rows through the API's writer, and nothing else: it may neither change nor delete them."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import errors

from hr_assets.warehouse.audit import AuditEntry, AuditWriter
from hr_assets_tests.deploy.deploy_helpers import Provisioned


def test_the_read_only_role_appends_audit_rows_and_nothing_else(deployment: Provisioned) -> None:
    reader_url, owner_url = deployment.reader_url, deployment.owner_url
    # The deployment is the session's: other tests' API requests have written rows of their own before.
    with psycopg.connect(owner_url) as conn:
        [(written_before,)] = conn.execute("SELECT coalesce(max(id), 0) FROM api_audit_log").fetchall()

    async def write() -> None:
        writer = AuditWriter(reader_url, max_size=1, wait_seconds=10)
        await writer.open()
        try:
            await writer.record(AuditEntry(1, "/timeseries", ["alice"], "2025-06-01", "2025-06-02", 200))
        finally:
            await writer.close()

    asyncio.run(write())
    with psycopg.connect(owner_url) as conn:
        appended = conn.execute(
            "SELECT key_id, route, participants, range_start, range_end, status FROM api_audit_log WHERE id > %s",
            (written_before,),
        ).fetchall()
        assert appended == [(1, "/timeseries", ["alice"], "2025-06-01", "2025-06-02", 200)]
    with psycopg.connect(reader_url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        for statement in ("UPDATE api_audit_log SET status = 0", "DELETE FROM api_audit_log"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
