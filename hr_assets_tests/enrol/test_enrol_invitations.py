"""Invitations: the secrets, links and QR codes, ``hr users invite`` (one, several, a roster), what is stored, and
the state the operator sees in ``hr users list`` and the API's user detail."""

from __future__ import annotations

import csv
import json
import re
import stat
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from hr_api.enrol.security import redact_path
from hr_api.main import create_app
from hr_assets.cli import main
from hr_assets.domain.enrolment import SECRET_BYTES, looks_like_secret, new_secret, parse_lifetime, write_qr
from hr_assets.settings import HrSettings
from hr_assets.warehouse.invitations import InvitationError, create_invitation, open_invitation
from hr_assets.warehouse.tokens import record_grant_refused
from hr_assets_tests.enrol.helpers import Enrolment, local

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LINK_RE = re.compile(r"http://testserver/enroll/([A-Za-z0-9_-]+)")


def test_secrets_have_at_least_128_random_bits_and_differ() -> None:
    secrets = {new_secret() for _ in range(1000)}
    assert len(secrets) == 1000
    assert SECRET_BYTES * 8 >= 128 and all(len(s) == 32 and looks_like_secret(s) for s in secrets)


@pytest.mark.parametrize(("text", "days"), [("14d", 14), ("36h", 1.5), ("90m", 90 / 1440), ("90d", 90)])
def test_lifetimes(text: str, days: float) -> None:
    assert parse_lifetime(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "14", "d", "2w", "-1d", "0d", "91d", "1.5d", "14 days"])
def test_bad_lifetimes_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"14d|at most 90 days"):
        parse_lifetime(text)


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/enroll/AbCdEfGhIjKlMnOpQrStUvWxYz012345", "/enroll/<redacted>"),
        ("/enroll/AbCdEfGhIjKlMnOpQrStUvWxYz012345/start", "/enroll/<redacted>/start"),
        ("/enroll/callback?code=4/xyz&state=abc", "/enroll/callback?<redacted>"),
        ("/enroll/withdraw/AbCdEfGhIjKlMnOpQrStUvWxYz012345", "/enroll/withdraw/<redacted>"),
        ("/enroll/short", "/enroll/<redacted>"),
        ("/enroll/static/enrol.css", "/enroll/static/enrol.css"),
        ("/timeseries?user_id=a", "/timeseries?user_id=a"),
        ("/enrollment/x", "/enrollment/x"),
    ],
)
def test_the_access_log_path_is_redacted(path: str, logged: str) -> None:
    assert redact_path(path) == logged


def test_qr_codes_are_written_as_svg_and_png_readable_by_the_owner_only(tmp_path: Path) -> None:
    files = write_qr("https://study.example.org/enroll/" + new_secret(), tmp_path / "qr" / "alice-invitation")

    assert files.png.read_bytes().startswith(PNG_SIGNATURE)
    assert ElementTree.parse(files.svg).getroot().tag.endswith("svg")
    for path in (files.svg, files.png):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_invitation_is_stored_as_a_hash_only_and_a_new_one_replaces_it(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    first, second = new_secret(), new_secret()
    later = datetime.now(UTC) + timedelta(days=1)
    create_invitation(enrolment.conn, "alice", first, later)
    create_invitation(enrolment.conn, "alice", second, later)

    dump = " ".join(str(row) for row in enrolment.conn.execute("SELECT * FROM enrolment_invitations").fetchall())
    assert first not in dump and second not in dump
    assert open_invitation(enrolment.conn, first) is None
    found = open_invitation(enrolment.conn, second)
    assert found is not None and found.user_id == "alice"


def test_invitations_are_refused_for_unknown_other_source_and_retired_users(enrolment: Enrolment) -> None:
    enrolment.register("sim", source="simulated")
    enrolment.register("gone")
    enrolment.conn.execute("UPDATE users SET retired_at = now() WHERE id = 'gone'")
    later = datetime.now(UTC) + timedelta(days=1)
    for user_id, reason in (
        ("nobody", "register the participant"),
        ("sim", "--source google_health"),
        ("gone", "--reactivate"),
    ):
        with pytest.raises(InvitationError, match=reason):
            create_invitation(enrolment.conn, user_id, new_secret(), later)
    assert enrolment.conn.execute("SELECT count(*) FROM enrolment_invitations").fetchone() == (0,)


def _mode(path: str) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def test_hr_users_invite_prints_a_working_link_and_writes_its_qr_code(enrolment: Enrolment, tmp_path: Path) -> None:
    enrolment.register("alice")
    out = tmp_path / "out"

    result = CliRunner().invoke(main, ["users", "invite", "alice", "--expires-in", "7d", "--out", str(out)])

    assert result.exit_code == 0, result.output
    [token] = LINK_RE.findall(result.output)
    found = open_invitation(enrolment.conn, token)
    assert found is not None and found.user_id == "alice"
    assert timedelta(days=6, hours=23) < found.expires_at - datetime.now(UTC) <= timedelta(days=7)
    svg, png = out / "alice-invitation.svg", out / "alice-invitation.png"
    assert f"QR code {svg}, {png}" in result.output and _mode(str(png)) == 0o600
    assert not list(out.glob("*.csv"))  # one participant: no mail merge


def _mail_merge(result: Result, folder: Path, conn: psycopg.Connection) -> list[str]:
    """The participants of the mail-merge CSV ``result`` wrote in ``folder``, each row's link checked."""
    assert result.exit_code == 0, result.output
    [merge] = folder.glob("invitations-*.csv")
    assert f"mail-merge CSV (participant, link, expires): {merge}" in result.output and _mode(str(merge)) == 0o600
    rows = list(csv.DictReader(merge.open()))
    for row in rows:
        found = open_invitation(conn, row["link"].rsplit("/", 1)[1])
        assert found is not None and found.user_id == row["participant"]
        assert datetime.fromisoformat(row["expires"]) == found.expires_at
    return [row["participant"] for row in rows]


def test_hr_users_invite_of_several_and_of_a_roster_writes_a_mail_merge_csv(
    enrolment: Enrolment, tmp_path: Path
) -> None:
    for user_id in ("alice", "bob", "carol"):
        enrolment.register(user_id)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "id,timezone,source,settings,start_date\nbob,UTC,google_health,{},\ncarol,UTC,google_health,{},\n"
    )

    several = CliRunner().invoke(main, ["users", "invite", "alice", "bob", "--out", str(tmp_path / "a")])
    assert _mail_merge(several, tmp_path / "a", enrolment.conn) == ["alice", "bob"]
    from_roster = CliRunner().invoke(main, ["users", "invite", "--roster", str(roster), "--out", str(tmp_path / "b")])
    assert _mail_merge(from_roster, tmp_path / "b", enrolment.conn) == ["bob", "carol"]

    # bob's first link was replaced by the roster's; alice's still works.
    still_open = [open_invitation(enrolment.conn, t) is not None for t in LINK_RE.findall(several.output)]
    assert still_open == [True, False]


def test_hr_users_invite_of_a_cohort_invites_its_google_health_participants(
    enrolment: Enrolment, tmp_path: Path
) -> None:
    for user_id in ("alice", "bob", "carol"):
        enrolment.register(user_id)
    enrolment.register("sim", source="simulated")
    runner = CliRunner()
    for user_id, cohort in (("alice", "site-a"), ("bob", "site-b"), ("carol", "site-a"), ("sim", "site-a")):
        assert runner.invoke(main, ["users", "update", user_id, "--cohort", cohort]).exit_code == 0
    invited = runner.invoke(main, ["users", "invite", "--cohort", "site-a", "--out", str(tmp_path / "a")])
    assert _mail_merge(invited, tmp_path / "a", enrolment.conn) == ["alice", "carol"]
    nobody = runner.invoke(main, ["users", "invite", "--cohort", "site-c"])
    assert nobody.exit_code == 1 and "cohort 'site-c' has no active google_health participant" in nobody.output
    bad = runner.invoke(main, ["users", "invite", "--cohort", "Site A"])
    assert bad.exit_code == 1 and "invalid cohort 'Site A'" in bad.output


def test_hr_users_invite_refuses_clearly_and_stores_nothing(
    enrolment: Enrolment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hr_assets.settings import get_settings

    enrolment.register("alice")
    enrolment.register("sim", source="simulated")
    runner = CliRunner()
    assert "14d, 36h or 90m" in runner.invoke(main, ["users", "invite", "alice", "--expires-in", "2w"]).output
    # All or nothing: alice is not invited when sim cannot be.
    refused = runner.invoke(main, ["users", "invite", "alice", "sim"])
    assert refused.exit_code == 1 and "sim reads from source 'simulated'" in refused.output
    assert runner.invoke(main, ["users", "invite"]).exit_code == 2
    monkeypatch.delenv("HR_PUBLIC_URL")
    get_settings.cache_clear()
    unset = runner.invoke(main, ["users", "invite", "alice"])
    assert unset.exit_code == 1 and "HR_PUBLIC_URL is not set" in unset.output
    assert enrolment.conn.execute("SELECT count(*) FROM enrolment_invitations").fetchone() == (0,)


def _listed(user_id: str) -> str:
    result = CliRunner().invoke(main, ["users", "list", "--all"])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith(f"{user_id} ")]
    return line


def _api_connection(db_url: str, tmp_path: Path, user_id: str) -> str | None:
    settings = HrSettings(api_auth="off", api_web_dir=tmp_path / "no-dashboard")
    with TestClient(create_app(settings, database_url=db_url), base_url="http://127.0.0.1:8000") as client:
        answer = client.get(f"/users/{user_id}")
    assert answer.status_code == 200, answer.text
    connection: str | None = answer.json()["connection"]
    return connection


def test_the_operator_sees_each_step_in_hr_users_list_and_the_api(enrolment: Enrolment, tmp_path: Path) -> None:
    enrolment.register("alice")
    enrolment.register("sim", source="simulated")

    def seen() -> tuple[str, str]:
        return _listed("alice"), _api_connection(enrolment.db_url, tmp_path, "alice") or ""

    listed, api = seen()
    assert listed.endswith("active  not connected") and api == "not connected"
    expired = enrolment.invite("alice", lifetime=timedelta(seconds=-1))
    assert all("invitation expired (" in text for text in seen())
    link = enrolment.invite("alice")
    assert all("invited (until " in text for text in seen())
    client = enrolment.client()
    assert client.get(local(expired)).status_code == 404
    done = enrolment.connect(client, link, "alice@example.com")
    assert "You are connected" in done.text and all("connected (since " in text for text in seen())
    record_grant_refused(enrolment.conn, "alice")  # what the nightly records when Google answers invalid_grant
    assert all("needs reconnect (Google refused the grant at " in text for text in seen())
    # Re-invited, then connected again: a new grant replaces the refused one.
    relink = enrolment.invite("alice")
    assert all("invited (until " in text for text in seen())
    done = enrolment.connect(client, relink, "alice@example.com")
    assert "You are connected" in done.text and all("connected (since " in text for text in seen())
    listed_json = json.loads(CliRunner().invoke(main, ["users", "list", "--json"]).output)
    connections = {user["id"]: user["connection"] for user in listed_json}
    assert connections["alice"]["state"] == "connected" and connections["alice"]["oauth_client"] == "web"
    assert connections["sim"] is None
    withdrawal = re.search(r'href="http://testserver(/enroll/withdraw/[^"]+)"', done.text)
    assert withdrawal is not None and client.post(withdrawal[1]).status_code == 200
    listed, api = seen()
    assert (
        "retired " in listed
        and "withdrawn (" in listed
        and listed.endswith("data keep)")
        and api.startswith("withdrawn")
    )
    assert _listed("sim").endswith("active") and _api_connection(enrolment.db_url, tmp_path, "sim") is None


def test_the_study_view_shows_invited_and_withdrawn_participants(enrolment: Enrolment) -> None:
    from hr_assets.domain.study import StudyRules, participant_statuses
    from hr_assets.warehouse.study import Scope

    for user_id in ("alice", "bob", "carol"):
        enrolment.register(user_id)
    enrolment.invite("alice")
    enrolment.invite("bob", lifetime=timedelta(seconds=1))
    later = datetime.now(UTC) + timedelta(minutes=1)  # bob's link has expired by then; alice's has not
    enrolment.conn.execute(
        "INSERT INTO enrolment_withdrawals (user_id, secret_hash, withdrawn_at, data) "
        "VALUES ('carol', '\\x01', %s, 'keep')",
        (later - timedelta(days=1),),
    )
    rules = StudyRules(valid_day_minutes=600, flag_no_valid_day_days=3, flag_no_data_days=3)
    statuses = {s.user_id: s for s in participant_statuses(enrolment.conn, Scope(True, frozenset()), rules, later)}
    assert statuses["alice"].connection == "invited" and statuses["alice"].connection_since is not None
    assert statuses["bob"].connection == "never_connected"
    assert statuses["carol"].connection == "withdrawn" and statuses["carol"].flags == ()
