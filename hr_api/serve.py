"""``hr-api``: the query API's own process (``hr api`` runs it), with uvicorn, until interrupted.

Started apart from the pipeline's command line so that the API process loads the API and the
warehouse only, and the pipeline never imports the API.
"""

from __future__ import annotations

import os
import shutil

import click
import uvicorn

from hr_api.main import create_app, resolve_api_database_url
from hr_assets.local.localdb import LocalDatabaseError, free_port
from hr_assets.local.network import is_loopback, open_api_refusal
from hr_assets.settings import get_settings
from hr_assets.warehouse.db import WarehouseError


@click.command(name="hr-api")
@click.option("--host", help="Address to listen on (default HR_API_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Preferred port (default HR_API_PORT, 8000; a free one if taken).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default HR_API_WORKERS, 1).")
def main(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the query API (and the dashboard under /app/) until interrupted."""
    settings = get_settings()
    workers = workers or settings.api_workers
    host = host or settings.api_host
    refusal = open_api_refusal(settings.api_auth, host)
    if refusal is not None:
        raise click.ClickException(refusal)
    port = free_port(port or settings.api_port) if is_loopback(host) else (port or settings.api_port)
    try:
        url = resolve_api_database_url(settings)
    except (LocalDatabaseError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"hr api on http://{host}:{port} (auth {settings.api_auth}, {workers} worker(s))")
    if workers == 1:
        uvicorn.run(create_app(settings, database_url=url), host=host, port=port, log_level="info")
        return
    # Each worker imports hr_api.main:app, which reads these: the database found here, and the
    # folder where the workers add up their request metrics (emptied: old workers' counts go).
    # Written here, at the process's start, before the workers are spawned with this environment.
    shared = settings.home / "api-metrics"
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True)
    os.environ.update(HR_API_DATABASE_URL=url, PROMETHEUS_MULTIPROC_DIR=str(shared))
    uvicorn.run("hr_api.main:app", host=host, port=port, log_level="info", workers=workers)
