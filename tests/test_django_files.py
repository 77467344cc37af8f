"""Files of removed rows, deleted from Django's FileSystemStorage after the batch commits: real
files of the Validibot and Census projects, a storage that refuses (permissions), and crashes
on either side of the commit. The retry ledger never loses a file whose row went, and never
deletes one whose row stayed."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import _WARN_PHASE, EXAMPLES
from tests.support.django_projects import DjangoProject, django_project

# `lethe run` inside the project with one step of the engine replaced by a SIGKILL-like exit.
_DIE_AFTER = """
import os, sys, django
django.setup()
from django.conf import settings
import {module} as target
original = target.{cls}.{method}

def die(self, *args, **kwargs):
    original(self, *args, **kwargs)
    os._exit(9)

setattr(target.{cls}, "{method}", die)
from lethe.cli.app import main
sys.exit(main(["-c", settings.LETHE_CONFIG, *sys.argv[1:]]))
"""


def _validibot(tmp_path: Path) -> DjangoProject:
    project = django_project("validibot", f"sqlite:///{tmp_path / 'app.db'}", tmp_path)
    project.setup(datetime.now(UTC))
    return project


def _state(project: DjangoProject, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project.home / ".lethe" / "state.db") as db:
        return db.execute(query).fetchall()


def _app(project: DjangoProject, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project.env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        return db.execute(query).fetchall()


def _file_events(project: DjangoProject) -> list[tuple[str, str, dict[str, Any]]]:
    rows = _state(
        project,
        "SELECT event, item_key, details FROM lethe_events WHERE event LIKE 'file%' ORDER BY seq",
    )
    return [(event, key, json.loads(details)) for event, key, details in rows]


def _crash(project: DjangoProject, module: str, cls: str, method: str, *args: str) -> None:
    code = _DIE_AFTER.format(module=module, cls=cls, method=method)
    done = subprocess.run(
        [sys.executable, "-c", code, "run", *args],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 9, done.stdout + done.stderr


def _expire_leases(project: DjangoProject) -> None:
    """The killed run's lease runs out (as it would, minutes later): it is taken as dead."""
    with sqlite3.connect(project.home / ".lethe" / "state.db") as db:
        db.execute(
            "UPDATE lethe_runs SET lease_expires_at = '2000-01-01 00:00:00.000000' "
            "WHERE status = 'running'"
        )


@contextmanager
def _undeletable(directory: Path) -> Iterator[None]:
    """Files in ``directory`` cannot be unlinked: no write permission on it, or, for root
    (whom permissions do not stop), the immutable attribute."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(directory)], check=False).returncode != 0:
            pytest.skip("running as root without chattr: cannot make a file undeletable")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        mode = directory.stat().st_mode
        directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            directory.chmod(mode)


def test_a_purged_submission_s_upload_is_deleted_after_the_commit_and_audited_per_file(
    tmp_path: Path,
) -> None:
    validibot = _validibot(tmp_path)
    uploads = validibot.media / "submissions"
    result = validibot.run_json("purge-expired-submissions")
    assert result["status"] == "succeeded", result["errors"]
    assert sorted(p.name for p in uploads.iterdir()) == ["model-2.idf"]
    assert _app(validibot, "SELECT content_file FROM submissions_submission WHERE id = 1") == [
        (None,)
    ]
    [(event, key, details)] = _file_events(validibot)
    assert (event, key) == ("file_deleted", "1")
    assert details["file_sha256"] == hashlib.sha256(b"submissions/model-1.idf").hexdigest()
    assert "model-1" not in json.dumps(details)  # the audit never holds the name
    assert _state(validibot, "SELECT count(*) FROM lethe_files") == [(0,)]


def test_a_file_the_storage_refuses_is_retried_by_every_run_and_reported_until_deleted(
    tmp_path: Path,
) -> None:
    validibot = _validibot(tmp_path)
    uploads = validibot.media / "submissions"
    with _undeletable(uploads):
        first = validibot.run_json("purge-expired-submissions", check=False)
        # Process purge retries, five minutes later: another run, nothing new to redact.
        second = validibot.run_json("purge-expired-submissions", check=False)
    for run, attempts in ((first, "1 attempt"), (second, "2 attempts")):
        assert run["status"] == "degraded"
        [error] = run["errors"]
        assert "submissions_submission.content_file (submissions 1)" in error
        assert f"after {attempts}: PermissionError" in error and "retry ledger" in error
    assert (uploads / "model-1.idf").exists()
    # The row's content is gone: its batch committed; the file waits in the ledger.
    assert _app(validibot, "SELECT content FROM submissions_submission WHERE id = 1") == [(None,)]
    assert _state(validibot, "SELECT item_key, attempts FROM lethe_files") == [("1", 2)]
    assert [e[0] for e in _file_events(validibot)] == ["file_not_deleted"]  # once, not per try
    listed = validibot.lethe("files").stdout
    assert "submissions 1: submissions_submission.content_file 'submissions/model-1.idf'" in listed
    assert "(django): 2 attempts, last: PermissionError" in listed
    [waiting] = json.loads(validibot.lethe("files", "--json").stdout)
    assert (waiting["attempts"], waiting["batchStatus"]) == (2, "committed")

    third = validibot.run_json("clear-sessions")  # any run works the ledger off
    assert third["status"] == "succeeded" and third["errors"] == []
    assert not (uploads / "model-1.idf").exists()
    assert [e[0] for e in _file_events(validibot)] == ["file_not_deleted", "file_deleted"]
    assert _state(validibot, "SELECT count(*) FROM lethe_files") == [(0,)]
    assert "No files waiting" in validibot.lethe("files").stdout
    validibot.lethe("audit", "verify")


def test_a_crash_between_the_commit_and_the_file_deletion_leaves_the_file_in_the_ledger(
    tmp_path: Path,
) -> None:
    validibot = _validibot(tmp_path)
    upload = validibot.media / "submissions" / "model-1.idf"
    # Killed right after the store committed the redaction, before anything else was recorded.
    _crash(
        validibot, "lethe.engine.executor", "PhaseRunner", "_finish", "purge-expired-submissions"
    )
    assert _app(validibot, "SELECT content FROM submissions_submission WHERE id = 1") == [(None,)]
    assert upload.exists()
    assert _state(validibot, "SELECT item_key, attempts FROM lethe_files") == [("1", 0)]
    assert "its batch awaits recovery" in validibot.lethe("files").stdout

    # While the dead run's lease lasts, its batch is pending: the file waits, not lost.
    validibot.run_json("clear-sessions")
    assert upload.exists() and _state(validibot, "SELECT count(*) FROM lethe_files") == [(1,)]
    _expire_leases(validibot)
    after = validibot.run_json("clear-sessions")  # recovery settles the batch, then the file
    assert after["status"] == "succeeded", after["errors"]
    assert not upload.exists()
    assert [(e[0], e[1]) for e in _file_events(validibot)] == [("file_deleted", "1")]
    assert _state(validibot, "SELECT count(*) FROM lethe_files") == [(0,)]


def test_a_batch_that_never_committed_deletes_no_file(tmp_path: Path) -> None:
    validibot = _validibot(tmp_path)
    upload = validibot.media / "submissions" / "model-1.idf"
    # Killed after the intent (and the files) were recorded, before the store committed.
    _crash(validibot, "lethe.state.batches", "BatchLog", "prepare", "purge-expired-submissions")
    assert _state(validibot, "SELECT item_key FROM lethe_files") == [("1",)]
    validibot.lethe("hold", "add", "submissions", "1", "--reason", "litigation")
    _expire_leases(validibot)

    after = validibot.run_json("purge-expired-submissions")
    assert after["phases"][0]["held"] == 1 and after["phases"][0]["acted"] == 0
    assert upload.exists()  # its row kept its content: the file stays, and is forgotten
    assert _app(validibot, "SELECT content FROM submissions_submission WHERE id = 1") == [
        ("<xml/>",)
    ]
    assert _state(validibot, "SELECT count(*) FROM lethe_files") == [(0,)]
    assert _file_events(validibot) == []


def test_uploads_of_cascaded_rows_go_with_their_parent(tmp_path: Path) -> None:
    """Census: a purged survey's responses are cascade rows; their attachments are deleted,
    each audited under the survey it went with."""
    policy = _WARN_PHASE.sub("", (EXAMPLES / "census" / "project" / "lethe.toml").read_text())
    census = django_project("census", f"sqlite:///{tmp_path / 'app.db'}", tmp_path, policy)
    census.setup(datetime.now(UTC))
    census.run_json()
    deleted = {(key, d["table"]) for event, key, d in _file_events(census)}
    assert deleted == {("2", "surveys_surveyresponse"), ("7", "surveys_surveyresponse")}
    assert not (census.media / "responses" / "survey-2.pdf").exists()
    assert (census.media / "responses" / "survey-3.pdf").exists()  # held


@pytest.mark.parametrize(
    ("files", "message", "code"),
    [
        ('[{ column = "no_such" }]', "has no column 'no_such'", 2),
        (
            '[{ column = "name" }]',
            "no installed model has a FileField in submissions_submission.name",
            2,
        ),
        ('[{ column = "content_file", storage = "ftp" }]', "unknown file storage 'ftp'", 2),
        ('[{ table = "auth_user", column = "email" }]', "not the dataset's table or in its", 2),
    ],
)
def test_a_file_column_lethe_cannot_serve_is_refused_before_anything_runs(
    tmp_path: Path, files: str, message: str, code: int
) -> None:
    policy = (EXAMPLES / "validibot" / "project" / "lethe.toml").read_text()
    model = 'model = "submissions.Submission"\n'
    policy = policy.replace(model, f"{model}files = {files}\n")
    project = django_project("validibot", f"sqlite:///{tmp_path / 'app.db'}", tmp_path, policy)
    project.setup(datetime.now(UTC))
    done = project.lethe("run", "purge-expired-submissions", check=False)
    assert done.returncode == code, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert message in line and "datasets.submissions.files[0]" in line
    assert (project.media / "submissions" / "model-1.idf").exists()
    assert _app(project, "SELECT content FROM submissions_submission WHERE id = 1") == [("<xml/>",)]


def test_a_dataset_by_model_that_opts_out_keeps_its_files(tmp_path: Path) -> None:
    """``files = []``: the model's FileFields are left to the application (as Django does)."""
    policy = (EXAMPLES / "validibot" / "project" / "lethe.toml").read_text()
    model = 'model = "submissions.Submission"\n'
    project = django_project(
        "validibot",
        f"sqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        policy.replace(model, f"{model}files = []\n"),
    )
    project.setup(datetime.now(UTC))
    project.run_json("purge-expired-submissions")
    assert (project.media / "submissions" / "model-1.idf").exists()
    assert _app(project, "SELECT content FROM submissions_submission WHERE id = 1") == [(None,)]
    assert _file_events(project) == []
