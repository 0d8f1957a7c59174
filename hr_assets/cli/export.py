"""``hr export``: the analysis-ready export of a study (Parquet or CSV, a dictionary and a manifest)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from hr_assets.domain.export import DEFAULT_MAX_SHIFT_DAYS, DEFAULT_TABLES, FORMATS, TABLES, ExportError, Format


@click.command("export")
@click.argument("destination")
@click.option(
    "--tables",
    "tables",
    default=",".join(DEFAULT_TABLES),
    show_default=True,
    help=f"Comma-separated tables, of: {', '.join(TABLES)}.",
)
@click.option("--user", "user_ids", multiple=True, help="Only this participant (repeatable).")
@click.option("--cohort", help="Only this cohort's participants.")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="First local day.")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="Last local day.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="parquet", show_default=True)
@click.option("--deidentify", is_flag=True, help="Pseudonyms and shifted dates (key: HR_EXPORT_PSEUDONYM_KEY).")
@click.option(
    "--max-shift-days",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_SHIFT_DAYS,
    show_default=True,
    help="De-identified: the largest date shift either way.",
)
@click.option("--keep-weekday", is_flag=True, help="De-identified: shift by whole weeks.")
@click.option(
    "--mapping-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="De-identified: where the id -> pseudonym -> shift mapping goes (default: under HR_HOME).",
)
def export(
    destination: str,
    tables: str,
    user_ids: tuple[str, ...],
    cohort: str | None,
    first: datetime | None,
    last: datetime | None,
    fmt: Format,
    deidentify: bool,
    max_shift_days: int,
    keep_weekday: bool,
    mapping_file: Path | None,
) -> None:
    """Export the study to DESTINATION (a folder or s3://bucket/prefix) for analysis; only what changed is rewritten.

    \b
    hr export ./study                              every participant, Parquet
    hr export ./study --deidentify --keep-weekday  pseudonyms, dates shifted by whole weeks
    hr export s3://bucket/study --format csv       to S3 (credentials from the environment)
    """
    from hr_assets.cli.common import clear_errors, warehouse
    from hr_assets.domain.export_runner import (
        ExportRequest,
        default_mapping_path,
        pseudonymizer_from_settings,
        run_export,
    )

    if first and last and last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    try:
        request = ExportRequest(
            destination=destination,
            tables=tuple(t.strip() for t in tables.split(",") if t.strip()),
            user_ids=user_ids or None,
            cohort=cohort,
            start_date=first.date() if first else None,
            end_date=last.date() if last else None,
            format=fmt,
            pseudonymizer=pseudonymizer_from_settings(max_shift_days=max_shift_days, keep_weekday=keep_weekday)
            if deidentify
            else None,
            mapping_path=(mapping_file or default_mapping_path(destination)) if deidentify else None,
        )
        with clear_errors():
            summary = run_export(warehouse(), request, progress=lambda line: click.echo(line, err=True))
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.describe())
    if request.mapping_path is not None:
        click.echo(f"pseudonym mapping (keep it private): {request.mapping_path}")
    for failure in summary.failures:
        click.echo(f"FAILED {failure}", err=True)
    if summary.failures:
        raise SystemExit(1)
