"""``hr export s3://bucket/prefix``: a round trip through an S3-compatible server (moto's) on loopback."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from hr_assets.domain.export_runner import ExportRequest, run_export
from hr_assets.warehouse.db import Warehouse
from hr_assets_tests.export.helpers import duck, reload_day, warehouse_days

BUCKET = "study-exports"
SECRET = "s3-secret-that-must-not-be-logged"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 on 127.0.0.1 with one bucket; credentials and endpoint in the environment, as in production."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "exporter")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def _objects(endpoint: str) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=endpoint)
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing}


def test_s3_round_trip_and_incremental_update(
    export_db: str, s3_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = ExportRequest(f"s3://{BUCKET}/study", tables=("readings", "day", "participants"))
    first = run_export(Warehouse(export_db), request)
    assert not first.failures

    objects = _objects(s3_endpoint)
    manifest = json.loads(objects["study/manifest.json"])
    assert {f"study/{path}" for path in manifest["files"]} | {
        "study/manifest.json",
        "study/dictionary.json",
        "study/dictionary.md",
    } == set(objects)
    for path, entry in manifest["files"].items():
        assert hashlib.sha256(objects[f"study/{path}"]).hexdigest() == entry["sha256"]
    assert not [key for key in objects if ".staging" in key]

    # Read back from a local copy of the objects: the same per-day figures as the warehouse.
    for key, data in objects.items():
        target = tmp_path / "copy" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    rows = duck(
        "SELECT user_id, local_date, count(*), sum(bpm) FROM read_parquet(?, hive_partitioning = true) GROUP BY ALL",
        str(tmp_path / "copy" / "study" / "readings" / "**" / "*.parquet"),
    )
    assert {(r[0], r[1]): (r[2], r[3]) for r in rows} == {k: f[:2] for k, f in warehouse_days(export_db).items()}

    reload_day(export_db, "kathmandu-two", min(d for _, d in warehouse_days(export_db)))
    second = run_export(Warehouse(export_db), request)
    assert sorted(f.path for f in second.written) == [
        "day/user_id=kathmandu-two/part-0.parquet",
        "readings/user_id=kathmandu-two/month=2024-03/part-0.parquet",
    ]
    assert SECRET not in caplog.text
