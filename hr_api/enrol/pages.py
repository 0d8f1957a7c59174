"""The enrolment pages' texts and templates (Jinja2, autoescaped: every operator or participant text is escaped).

The operator changes the study's name, who runs it and the contact with settings (HR_STUDY_NAME,
HR_STUDY_RUNNER, HR_STUDY_CONTACT) and may replace any template by a file of the same name in
HR_ENROL_TEMPLATE_DIR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from hr_assets.settings import HrSettings

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Study:
    name: str
    runner: str
    contact: str


@dataclass(frozen=True)
class Problem:
    """A failure page: its status, heading and paragraphs, and whether the participant may try again."""

    status: int
    heading: str
    paragraphs: tuple[str, ...]


# One page for an unknown, used, expired or replaced link (and a withdrawal link that does not work): which of
# them it was is not said, so that the page is no oracle for guessed links.
LINK_NOT_VALID = Problem(
    404,
    "This link does not work",
    (
        "The link may be mistyped, used already, or out of date.",
        "If you still want to take part, ask the study team for a new link.",
    ),
)
STATE_MISMATCH = Problem(
    400,
    "We could not finish connecting",
    (
        "This sign-in could not be matched to your invitation: it took too long, was started in another "
        "browser, or was opened twice.",
        "Please open the link from your invitation again, in this browser.",
    ),
)
DENIED = Problem(
    200,
    "You did not allow access",
    (
        "Nothing was shared and nothing was stored.",
        "The study needs your permission to read your heart-rate data. If you change your mind, try again.",
    ),
)
PARTIAL = Problem(
    200,
    "The health permission was not ticked",
    (
        "Google's consent screen lets you choose what to share, and the heart-rate permission was left out, "
        "so nothing was stored.",
        "The study needs it: please try again and tick the health permission.",
    ),
)
GOOGLE_REFUSED = Problem(
    502,
    "Google did not complete the connection",
    ("Nothing was stored. This happens when a sign-in page is reloaded or used twice; please try again.",),
)
GOOGLE_UNREACHABLE = Problem(
    503,
    "Google cannot be reached right now",
    ("Nothing was stored. Please try again in a few minutes.",),
)
UNAVAILABLE = Problem(
    503,
    "The study's server has a problem",
    ("Nothing was changed. Please try again later, or contact the study team.",),
)
TOO_MANY = Problem(429, "Too many attempts", ("Please wait a minute and try again.",))
WITHDRAWAL_UNREACHABLE = Problem(
    503,
    "Google cannot be reached right now",
    (
        "You have not been withdrawn yet, because the study must first remove its access to your Google "
        "account. Please try again in a few minutes.",
    ),
)


def data_text(settings: HrSettings) -> str:
    """What withdrawing does to the data collected so far, per HR_WITHDRAWAL_DATA."""
    if settings.withdrawal_data == "delete":
        return "When you withdraw, the heart-rate data the study collected from you is deleted."
    return "When you withdraw, the data collected until then stays with the study; no new data is read."


def data_done(settings: HrSettings) -> str:
    if settings.withdrawal_data == "delete":
        return "The heart-rate data the study had collected from you has been deleted."
    return "The data collected until now stays with the study, as its information said; no new data is read."


class Pages:
    """Renders the enrolment templates with the study's texts."""

    def __init__(self, settings: HrSettings) -> None:
        loaders: list[Any] = [FileSystemLoader(TEMPLATE_DIR)]
        if settings.enrol_template_dir is not None:
            loaders.insert(0, FileSystemLoader(settings.enrol_template_dir))
        self._environment = Environment(
            loader=ChoiceLoader(loaders), autoescape=select_autoescape(default=True, default_for_string=True)
        )
        self.study = Study(settings.study_name, settings.study_runner, settings.study_contact)
        self.settings = settings

    def render(self, template: str, **context: Any) -> str:
        return self._environment.get_template(template).render(study=self.study, **context)

    def problem(self, problem: Problem, retry_url: str | None = None) -> str:
        return self.render("problem.html", heading=problem.heading, paragraphs=problem.paragraphs, retry_url=retry_url)
