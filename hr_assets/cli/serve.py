"""``hr serve`` (Dagster and the API side by side) and ``hr api`` (the query API alone, its own process)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hr_assets.cli.common import dagster_environment
from hr_assets.local import localdb
from hr_assets.settings import PROJECT_ROOT, get_settings

DEFAULT_WEB_PORT = 3000


@click.command()
@click.option(
    "--port",
    type=int,
    default=DEFAULT_WEB_PORT,
    show_default=True,
    help="Preferred port of the Dagster UI (a free one is used if taken).",
)
@click.option("--api-port", type=int, help="Preferred port of the API (default HR_API_PORT, 8000).")
def serve(port: int, api_port: int | None) -> None:
    """Run the Dagster webserver and daemon (`dg dev`), and the query API, on 127.0.0.1 until interrupted."""
    from hr_assets.local.processes import start_group, supervise

    env = {**os.environ, **dagster_environment(), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    port = localdb.free_port(port)
    api_port = localdb.free_port(api_port or get_settings().api_port)
    bin_dir = Path(sys.executable).parent
    # Run from the instance folder: from the repository, Dagster would warn that its dagster.yaml
    # is not the instance's (it is copied there by install_instance_config).
    dagster_ui = [str(bin_dir / "dg"), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "--host", "127.0.0.1"]
    children = [
        start_group([*dagster_ui, "--port", str(port)], env=env, cwd=env["DAGSTER_HOME"]),
        start_group([str(bin_dir / "hr-api"), "--host", "127.0.0.1", "--port", str(api_port)], env=env),
    ]
    click.echo(f"Dagster UI: http://127.0.0.1:{port}")
    click.echo(f"API:        http://127.0.0.1:{api_port}  (docs /docs, dashboard /app/)")
    click.echo("Ctrl-C stops both; `make stop` stops the database")
    status = supervise(children)
    if status:
        raise SystemExit(status)


@click.command()
@click.option("--host", help="Address to listen on (default HR_API_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Preferred port (default HR_API_PORT, 8000; a free one if taken).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default HR_API_WORKERS, 1).")
def api(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the query API (and the dashboard under /app/) until interrupted."""
    from hr_assets.local.network import open_api_refusal

    settings = get_settings()
    # Refused here too, before this process becomes the API's: the message then comes from `hr` itself.
    refusal = open_api_refusal(settings.api_auth, host or settings.api_host)
    if refusal is not None:
        raise click.ClickException(refusal)
    options = {"--host": host, "--port": port, "--workers": workers}
    args = [part for name, value in options.items() if value is not None for part in (name, str(value))]
    # The API is its own process (hr_api.serve): exec'd, so that signals to `hr api` reach the server itself.
    os.execv(str(Path(sys.executable).parent / "hr-api"), ["hr-api", *args])
