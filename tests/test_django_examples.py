"""The Census, CheckTick and Validibot examples as the Django projects they are: migrated by
Django, seeded by their own command, run with ``python manage.py lethe run`` on SQLite and
PostgreSQL, keeping the promises the plain-SQL examples keep (tests/test_examples.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.apps import _WARN_PHASE, EXAMPLES, engine_for
from tests.support.django_projects import DjangoProject, django_project


@pytest.fixture(params=["sqlite", "postgresql"])
def django_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for a project (Django's PostgreSQL backend, or a SQLite file)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
    else:
        yield str(request.getfixturevalue("pg_url"))


def _project(name: str, url: str, tmp_path: Path) -> tuple[DjangoProject, datetime]:
    policy = _WARN_PHASE.sub("", (EXAMPLES / name / "project" / "lethe.toml").read_text())
    project = django_project(name, url, tmp_path, policy)
    now = datetime.now(UTC)
    project.setup(now)
    return project, now


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with engine_for(url).connect() as conn:
        return [tuple(row) for row in conn.execute(text(query))]


def _events(project: DjangoProject, event: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(project.home / ".lethe" / "state.db") as db:
        rows = db.execute(
            "SELECT item_key, details FROM lethe_events WHERE event = ?", (event,)
        ).fetchall()
    return {key: json.loads(details) for key, details in rows}


def _phases(result: dict[str, Any]) -> list[tuple[int, int]]:
    return [(p["acted"], p["held"]) for p in result["phases"]]


def test_census_soft_deletes_then_purges_after_grace_and_honours_holds(
    django_url: str, tmp_path: Path
) -> None:
    census, _ = _project("census", django_url, tmp_path)
    result = census.run_json()
    assert result["status"] == "succeeded", result["errors"]
    assert _phases(result) == [(1, 1), (2, 1)]  # soft delete, purge: one held survey each
    assert result["phases"][1]["cascade"] == {"surveys_surveyresponse": 6, "surveys_legalhold": 1}

    surveys = dict(_rows(django_url, "SELECT id, deleted_at FROM surveys_survey"))
    assert set(surveys) == {1, 3, 4, 5, 6}  # 2 and 7 (hold released) purged
    assert surveys[1] is not None and surveys[3] is None and surveys[6] is None
    responses = {r[0] for r in _rows(django_url, "SELECT survey_id FROM surveys_surveyresponse")}
    assert responses == {1, 3, 4, 5, 6}
    assert set(_events(census, "hard_deleted")) == {"2", "7"}
    assert set(_events(census, "skipped_hold")) == {"3", "4"}
    # The uploads of the purged surveys' responses are gone from Django's storage, the others
    # (held, in grace, not due) are still there.
    left = sorted(p.name for p in (census.media / "responses").iterdir())
    assert left == ["survey-1.pdf", "survey-3.pdf", "survey-4.pdf", "survey-5.pdf", "survey-6.pdf"]

    again = census.run_json()
    assert [p["acted"] for p in again["phases"]] == [0, 0]
    census.lethe("audit", "verify")


def test_checktick_progress_cleanup_deletes_only_stale_incomplete_progress(
    django_url: str, tmp_path: Path
) -> None:
    checktick, _ = _project("checktick", django_url, tmp_path)
    cleanup = checktick.run_json("progress-cleanup")
    assert [p["acted"] for p in cleanup["phases"]] == [3]
    progress = {r[0] for r in _rows(django_url, "SELECT id FROM surveys_surveyprogress")}
    assert progress == {4, 5, 6}  # in progress, complete, 29 days old
    governance = checktick.run_json("data-governance")
    assert [p["acted"] for p in governance["phases"]] == [1, 2]
    # Survey 6 (not due) still has its progress rows: nothing went early.
    left = {r[0] for r in _rows(django_url, "SELECT survey_id FROM surveys_surveyprogress")}
    assert left == {6}


def test_validibot_housekeeping_jobs(django_url: str, tmp_path: Path) -> None:
    validibot, _ = _project("validibot", django_url, tmp_path)
    result = validibot.run_json()
    assert result["status"] == "succeeded", result["errors"]
    sessions = {r[0] for r in _rows(django_url, "SELECT session_key FROM django_session")}
    assert sessions == {"s2", "s3"}
    assert {r[0] for r in _rows(django_url, "SELECT id FROM api_idempotencykey")} == {3, 4}
    assert {r[0] for r in _rows(django_url, "SELECT id FROM validations_callbackreceipt")} == {
        3,
        4,
    }
    submissions = {
        r[0]: r[1:]
        for r in _rows(
            django_url,
            "SELECT id, content, content_file, content_purged_at FROM submissions_submission",
        )
    }
    assert submissions[1][:2] == (None, None) and submissions[1][2] is not None
    assert submissions[2][:2] == ("<xml/>", "submissions/model-2.idf")
    assert submissions[2][2] is None
    uploads = sorted(p.name for p in (validibot.media / "submissions").iterdir())
    assert uploads == ["model-2.idf"]  # model-1.idf went with its submission's content
    runs = dict(_rows(django_url, "SELECT id, status FROM validations_validationrun"))
    assert runs == {1: "FAILED", 2: "FAILED", 3: "RUNNING", 4: "SUCCEEDED"}
    again = validibot.run_json()
    assert sum(p["acted"] for p in again["phases"]) == 0


def test_census_owners_are_warned_through_django_s_mail_before_their_surveys_go(
    tmp_path: Path,
) -> None:
    """The full policy, warnings on: Django's console backend (the project's default) prints
    each notice; survey 1 is not soft-deleted before a day has passed since its 1-day notice."""
    census = django_project("census", f"sqlite:///{tmp_path / 'app.db'}", tmp_path)
    census.setup(datetime.now(UTC))
    done = census.lethe("run")
    notices = {
        (to, subject.split(": surveys ")[1].split()[0])
        for to, subject in zip(
            (line[4:] for line in done.stdout.splitlines() if line.startswith("To: ")),
            (line for line in done.stdout.splitlines() if line.startswith("Subject: ")),
            strict=True,
        )
    }
    assert notices == {("owner1@example.org", "6"), ("owner2@example.org", "1")}
    assert "Sent 2 deletion warnings in 2 messages: 30-day: 1, 7-day: 0, 1-day: 1" in done.stdout
    assert "Soft deleted: 0 surveys" in done.stdout and "Hard deleted: 2 surveys" in done.stdout
    again = census.lethe("run").stdout
    assert "To: " not in again  # each milestone once


def test_census_jobs_deploy_as_manage_py_lethe(tmp_path: Path) -> None:
    """`python manage.py lethe deploy`: the CronJob and the host's cron run the command inside
    the project, where the setting names the policy file (no --config)."""
    census = django_project("census", f"sqlite:///{tmp_path / 'app.db'}", tmp_path)
    census.lethe("deploy", "kubernetes", "--out", str(tmp_path / "k8s"))
    census.lethe("deploy", "crontab", "--out", str(tmp_path / "cron"))
    cronjob = (tmp_path / "k8s" / "census-data-governance.yaml").read_text()
    command = cronjob.split("command:\n")[1].split("envFrom")[0].split()[1::2]
    assert command == ["python", "manage.py", "lethe", "tick", "data-governance"]
    script = (tmp_path / "cron" / "bin" / "lethe-census-job").read_text()
    assert 'docker compose exec -T web python manage.py lethe tick "$job"' in script
    assert "--config" not in cronjob + script
    census.lethe("deploy", "northflank", "--out", str(tmp_path / "nf"))
    northflank = "".join(p.read_text() for p in (tmp_path / "nf").rglob("*") if p.is_file())
    assert "manage.py" in northflank and "data-governance" in northflank
    assert "--config" not in northflank


def test_checktick_and_validibot_jobs_deploy_as_manage_py_lethe(tmp_path: Path) -> None:
    """Both by-model projects deploy their jobs as `python manage.py lethe tick JOB` (plain
    `lethe` cannot read their django:// stores, so without [deploy] command deploy refuses)."""
    (tmp_path / "c").mkdir()
    (tmp_path / "v").mkdir()
    checktick = django_project("checktick", f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "c")
    checktick.lethe("deploy", "crontab", "--out", str(tmp_path / "cron"))
    script = (tmp_path / "cron" / "bin" / "lethe-checktick-job").read_text()
    assert 'docker compose exec -T web python manage.py lethe tick "$job"' in script
    validibot = django_project("validibot", f"sqlite:///{tmp_path / 'v.db'}", tmp_path / "v")
    validibot.lethe("deploy", "crontab", "--out", str(tmp_path / "vcron"))
    assert (
        "python manage.py lethe tick"
        in (tmp_path / "vcron" / "bin" / "lethe-validibot-job").read_text()
    )
    validibot.lethe("deploy", "cloud-scheduler", "--out", str(tmp_path / "gcp"))
    assert any((tmp_path / "gcp").iterdir())
    assert "--config" not in script
