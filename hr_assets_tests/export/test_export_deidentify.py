"""``hr export --deidentify``: pseudonyms and whole-day shifts from the operator's key, nothing identifying left."""

from __future__ import annotations

import csv
import stat
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from hr_assets.domain.export import ExportError, Pseudonymizer
from hr_assets.domain.export_runner import ExportRequest, run_export
from hr_assets.warehouse.db import Warehouse
from hr_assets_tests.export.helpers import ZONES, table_glob, warehouse_days

KEY = b"the operator's pseudonym key, 32+ bytes long"
OTHER_KEY = b"another operator's pseudonym key, also long"
TABLES = ("readings", "minute", "hour", "day", "summary", "zones", "participants")


def _export(url: str, root: Path, mapping: Path, key: bytes = KEY, fmt: str = "parquet", **options: object) -> None:
    pseudonymizer = Pseudonymizer(key, **options)  # type: ignore[arg-type]
    request = ExportRequest(
        str(root),
        tables=TABLES,
        format=fmt,
        pseudonymizer=pseudonymizer,
        mapping_path=mapping,  # type: ignore[arg-type]
    )
    summary = run_export(Warehouse(url), request)
    assert not summary.failures


def _mapping(path: Path) -> dict[str, tuple[str, int]]:
    with path.open() as f:
        return {row["user_id"]: (row["pseudonym"], int(row["shift_days"])) for row in csv.DictReader(f)}


def _texts_in(root: Path) -> bytes:
    """Every byte of the export, and every Parquet value decoded (compressed pages hide text from a byte search)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        found.append(str(path.relative_to(root)).encode())
        found.append(path.read_bytes())
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            found += [str(v).encode() for column in table.columns for v in column.to_pylist()]
            found.append(repr(pq.ParquetFile(path).metadata.metadata).encode())
    return b"\n".join(found)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_no_real_id_time_zone_name_or_path_in_any_file(export_db: str, tmp_path: Path, fmt: str) -> None:
    root, mapping = tmp_path / "deid", tmp_path / "keeper-7f3a" / "mapping.csv"
    _export(export_db, root, mapping, fmt=fmt)
    everything = _texts_in(root)
    forbidden = [*ZONES, *ZONES.values(), "Berlin", "Kathmandu", "New_York", str(tmp_path), "keeper-7f3a"]
    for word in forbidden:
        assert word.encode() not in everything, word
    assert stat.S_IMODE(mapping.stat().st_mode) == 0o600
    assert set(_mapping(mapping)) == set(ZONES)


def test_pseudonyms_are_stable_and_differ_under_another_key(export_db: str, tmp_path: Path) -> None:
    _export(export_db, tmp_path / "a", tmp_path / "a.csv")
    _export(export_db, tmp_path / "b", tmp_path / "b.csv")
    _export(export_db, tmp_path / "c", tmp_path / "c.csv", key=OTHER_KEY)
    first, again, other = (_mapping(tmp_path / f"{n}.csv") for n in "abc")
    assert first == again
    assert all(other[u][0] != first[u][0] for u in ZONES)
    users = sorted(p.name for p in (tmp_path / "a" / "day").iterdir())
    assert users == sorted(f"user_id={pseudonym}" for pseudonym, _ in first.values())


def test_each_participant_has_one_shift_in_every_table_and_keeps_its_days_of_data(
    export_db: str, tmp_path: Path
) -> None:
    root, mapping_path = tmp_path / "deid", tmp_path / "mapping.csv"
    _export(export_db, root, mapping_path, max_shift_days=30)
    mapping = {pseudonym: (real, shift) for real, (pseudonym, shift) in _mapping(mapping_path).items()}
    assert all(shift != 0 and abs(shift) <= 30 for _, shift in mapping.values())
    expected = warehouse_days(export_db)

    readings = pl.read_parquet(table_glob(root, "readings"), hive_partitioning=True)
    per_day = readings.group_by("user_id", "local_date").agg(pl.len(), pl.col("bpm").cast(pl.Int64).sum())
    day = pl.read_parquet(table_glob(root, "day"), hive_partitioning=True)
    summary = pl.read_parquet(table_glob(root, "summary"), hive_partitioning=True)
    minute = pl.read_parquet(table_glob(root, "minute"), hive_partitioning=True)
    people = pl.read_parquet(root / "participants" / "part-0.parquet")
    for pseudonym, (real, shift) in mapping.items():
        moved = timedelta(days=shift)
        mine = {d - moved: (n, s) for u, d, n, s in per_day.filter(pl.col("user_id") == pseudonym).iter_rows() if u}
        assert mine == {d: f[:2] for (u, d), f in expected.items() if u == real}
        days = day.filter(pl.col("user_id") == pseudonym)
        real_firsts = {d: f[4] for (u, d), f in expected.items() if u == real}
        for shifted_day, first_reading in days.select("date", "first_reading").iter_rows():
            assert first_reading - moved == real_firsts[shifted_day - moved]  # timestamps moved by the same days
        assert {d - moved for d in summary.filter(pl.col("user_id") == pseudonym)["date"]} == set(real_firsts)
        local_minutes = minute.filter(pl.col("user_id") == pseudonym)["local_date"]
        assert {d - moved for d in local_minutes} == set(real_firsts)
        row = people.filter(pl.col("user_id") == pseudonym).row(0, named=True)
        assert row["first_day"] - moved == min(real_firsts) and row["timezone"] is None
    offsets = set(
        readings.filter(pl.col("user_id") == _mapping(mapping_path)["kathmandu-two"][0])["utc_offset_minutes"]
    )
    assert offsets == {345}  # UTC offsets are kept: local days still hold


def test_weekday_kept_when_asked(export_db: str, tmp_path: Path) -> None:
    _export(export_db, tmp_path / "w", tmp_path / "w.csv", keep_weekday=True)
    shifts = [shift for _, shift in _mapping(tmp_path / "w.csv").values()]
    assert all(shift % 7 == 0 and shift != 0 for shift in shifts)
    day = pl.read_parquet(table_glob(tmp_path / "w", "day"), hive_partitioning=True)
    assert {d.weekday() for d in day["date"]} == {date(2024, 3, 30 + n).weekday() for n in range(2)} | {
        date(2024, 4, 1).weekday()
    }


def test_shifts_spread_over_the_range_and_the_mapping_stays_outside_the_export(export_db: str, tmp_path: Path) -> None:
    pseudonymizer = Pseudonymizer(KEY, max_shift_days=10)
    shifts = {pseudonymizer.shift_days(f"participant-{n}") for n in range(500)}
    assert shifts == set(range(-10, 0)) | set(range(1, 11))
    with pytest.raises(ExportError, match="outside the export folder"):
        _export(export_db, tmp_path / "x", tmp_path / "x" / "mapping.csv")
    with pytest.raises(ExportError, match="cannot be de-identified"):
        run_export(
            Warehouse(export_db),
            ExportRequest(
                str(tmp_path / "q"), tables=("quarantine",), pseudonymizer=pseudonymizer, mapping_path=tmp_path / "m"
            ),
        )
    with pytest.raises(ExportError, match="HR_EXPORT_PSEUDONYM_KEY"):
        Pseudonymizer(b"")
