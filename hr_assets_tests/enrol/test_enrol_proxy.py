"""The ``public`` profile's Caddy (deploy/caddy/Caddyfile): validated with Caddy's own ``validate``, and run (Debian's
caddy binary, plain HTTP on loopback) in front of the real query API and of the enrolment app: only /enroll/*
reaches them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hr_assets_tests.browser.chromium import ApiServer, free_port
from hr_assets_tests.deploy.deploy_helpers import ROOT, compose, start, stop, wait_for
from hr_assets_tests.enrol.helpers import Enrolment, EnrolServer, hr_environment

CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
# Seconds Caddy gets to start listening.
CADDY_START_SECONDS = 30.0
# Paths of the private API and the rest of the system that must not be reachable through the proxy.
PRIVATE_PATHS = [
    "/timeseries?user_id=user1&start=2026-01-01&end=2026-01-02",
    "/users",
    "/health",
    "/metrics",
    "/docs",
    "/openapi.json",
    "/app/",
    "/enroll",  # the prefix alone is no page
    "/enrollment/x",
]


def _caddy() -> str:
    found = shutil.which("caddy")
    if found is None:
        pytest.skip("caddy not found: make test installs Debian's caddy as root (monitoring/install-tools.sh)")
    return found


def _environment(tmp_path: Path, **values: str) -> dict[str, str]:
    # Caddy keeps certificates and autosaved config under XDG folders: the test's own.
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        **values,
    }


def _validate(config: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [_caddy(), "validate", "--config", str(config), "--adapter", "caddyfile"]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, check=False)


def test_the_caddyfile_is_valid_for_a_domain_and_for_plain_http(tmp_path: Path) -> None:
    for domain in ("study.example.org", "http://127.0.0.1:8080"):
        checked = _validate(CADDYFILE, _environment(tmp_path, HR_PUBLIC_DOMAIN=domain))
        assert checked.returncode == 0 and "Valid configuration" in checked.stdout + checked.stderr, checked.stderr


def test_caddy_validate_refuses_a_broken_caddyfile(tmp_path: Path) -> None:
    broken = tmp_path / "Caddyfile"
    broken.write_text(CADDYFILE.read_text().replace("reverse_proxy", "reverse_proxxy"))
    checked = _validate(broken, _environment(tmp_path, HR_PUBLIC_DOMAIN="study.example.org"))
    assert checked.returncode != 0 and "reverse_proxxy" in checked.stderr


@contextlib.contextmanager
def _caddy_in_front_of(upstream: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    environment = _environment(
        tmp_path, HR_PUBLIC_DOMAIN=f"http://127.0.0.1:{port}", HR_ENROL_UPSTREAM=upstream, HR_CADDY_ADMIN="off"
    )
    log = tmp_path / "caddy.log"
    process = start([_caddy(), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"], environment, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _listening(url), process, log, CADDY_START_SECONDS)
        yield url
    finally:
        stop(process)


def _listening(url: str) -> bool:
    try:
        httpx.get(url)
    except httpx.TransportError:
        return False
    return True


def test_through_caddy_the_query_api_is_refused_and_only_enroll_paths_are_forwarded(
    db_url: str, tmp_path: Path
) -> None:
    _caddy()
    api = ApiServer(db_url, tmp_path / "api.log")  # the real API, no keys (loopback): it answers everything
    try:
        with _caddy_in_front_of(f"127.0.0.1:{api.url.rsplit(':', 1)[1]}", tmp_path) as proxy:
            direct = httpx.get(f"{api.url}/users")
            assert direct.status_code == 200 and "users" in direct.json()
            for path in PRIVATE_PATHS:
                refused = httpx.get(f"{proxy}{path}")
                assert refused.status_code == 404 and refused.content == b"", path
                assert "server" not in refused.headers
            # An /enroll/ path is forwarded: the API (which has no such route) answers it with its JSON 404.
            forwarded = httpx.get(f"{proxy}/enroll/anything")
            assert forwarded.status_code == 404 and forwarded.json() == {"detail": "Not Found"}
            # Dot segments, escaped so that the client sends them as they are, do not climb out of /enroll/.
            climbing = httpx.get(f"{proxy}/enroll/%2e%2e/users")
            assert climbing.status_code == 404 and "users" not in climbing.text
    finally:
        api.stop()
    # None of the refused requests reached the API (its access log has only the direct one and the forwarded one).
    logged = (tmp_path / "api.log").read_text()
    assert '"GET /users HTTP/1.1" 200' in logged and "/timeseries" not in logged and "/metrics" not in logged


def test_through_caddy_a_participant_reaches_the_enrolment_pages(enrolment: Enrolment, tmp_path: Path) -> None:
    _caddy()
    enrolment.register("alice")
    link = enrolment.invite("alice")
    app_port = free_port()
    server = EnrolServer(app_port, hr_environment(), tmp_path / "enrol.log")
    try:
        with _caddy_in_front_of(f"127.0.0.1:{app_port}", tmp_path) as proxy:
            token_path = "/enroll/" + link.rsplit("/", 1)[1]
            page = httpx.get(f"{proxy}{token_path}")
            assert page.status_code == 200 and "Continue to Google" in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'none'")
            assert page.headers["referrer-policy"] == "no-referrer"
            assert httpx.get(f"{proxy}/enroll/static/enrol.css").status_code == 200
            assert httpx.get(f"{proxy}/timeseries").status_code == 404
            started = httpx.post(f"{proxy}{token_path}/start")
            assert started.status_code == 303 and started.headers["location"].startswith(enrolment.fake.url)
    finally:
        server.stop()


def test_the_public_compose_profile_runs_caddy_in_front_of_the_enrolment_app_only() -> None:
    services = compose()["services"]
    caddy, enrol = services["caddy"], services["enrol"]
    assert caddy["profiles"] == enrol["profiles"] == ["public"]
    assert caddy["image"].startswith("caddy:2.")
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert caddy["environment"]["HR_ENROL_UPSTREAM"] == "enrol:8001"
    assert "--port" in enrol["command"] and enrol["command"][enrol["command"].index("--port") + 1] == "8001"
    # The enrolment app is reached through Caddy only; the query API is not behind Caddy at all.
    assert "ports" not in enrol and "api" not in str(caddy)
    assert enrol["environment"]["HR_PUBLIC_URL"] == "https://${HR_PUBLIC_DOMAIN:-}"
    # The public-facing process gets the warehouse and nothing of Dagster's.
    assert enrol["environment"]["HR_DATABASE_URL"].startswith("postgresql://hr_owner:${HR_DB_OWNER_PASSWORD}@")
    assert not any(name.startswith(("HR_DAGSTER", "DAGSTER")) for name in enrol["environment"])
    # Grants made with the web client are refreshed by the pipeline with the same client.
    for name in ("dagster-code", "enrol"):
        assert {"HR_GOOGLE_WEB_CLIENT_ID", "HR_GOOGLE_WEB_CLIENT_SECRET"} <= set(services[name]["environment"])
