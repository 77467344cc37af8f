"""``lethe records``: the retention schedule of every example in each format, and ``lethe
check``'s records findings (require_records, tables no dataset covers) on a real database."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from lethe.config.loader import load_file
from lethe.evidence.records import render, schedule
from tests.support.apps import NOW, engine_for, example_lethe, example_policy, seeded
from tests.support.cli import census, run_cli

__all__ = ["census"]  # the fixture, imported for its use below

REPO = Path(__file__).resolve().parents[1]
# From the repository, not the working directory: run from elsewhere, a relative glob found no
# example and the test was skipped as an empty parameter set.
EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/lethe.toml"))


def test_every_example_is_checked() -> None:
    assert [p.name for p in EXAMPLES] == [
        "census",
        "checktick",
        "datapilot",
        "therapy",
        "validibot",
    ]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_records_of_every_example_in_each_format(example: Path) -> None:
    config = load_file(example / "lethe.toml", env={}).config
    names = list(config.datasets)
    assert names
    doc = json.loads(render(schedule(config), "json"))
    assert doc["schema_version"] == 1
    assert [d["dataset"] for d in doc["datasets"]] == names
    for d in doc["datasets"]:
        assert d["where"] and d["retention"] and d["holds"]
        assert "password" not in json.dumps(d).lower()
        policies = [p for p, pc in config.policies.items() if pc.dataset == d["dataset"]]
        phases = sum(len(config.policies[p].actions) for p in policies)
        assert len(d["phases"]) + len(d["warnings"]) == phases
    rows = list(csv.DictReader(io.StringIO(render(schedule(config), "csv"))))
    assert [r["dataset"] for r in rows] == names
    markdown = render(schedule(config), "md")
    assert [line[3:] for line in markdown.splitlines() if line.startswith("## ")] == names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_lethe_records_prints_every_examples_schedule(
    example: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command, as a user runs it, prints what the library renders, in each format."""
    for name in list(os.environ):
        if name.startswith(("DATABASE_", "LETHE_", "REDIS_", "BLOB_", "S3_", "AWS_")):
            monkeypatch.delenv(name)
    config = load_file(example / "lethe.toml", env={}).config
    for fmt in ("md", "csv", "json"):
        code, out, err = run_cli(
            capsys, "-c", str(example / "lethe.toml"), "records", "--format", fmt
        )
        assert (code, err) == (0, ""), err
        assert out.rstrip("\n") == render(schedule(config), fmt).rstrip("\n")


def test_census_records_say_what_how_long_and_who_is_warned(
    census: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "records", "--format", "json")
    assert (code, err) == (0, "")
    (surveys,) = json.loads(out)["datasets"]
    assert surveys["what"] == "rows of table surveys_survey"
    assert surveys["retention"] == "due at the instant in deletion_date"
    assert surveys["category"] == "survey responses" and surveys["legal_basis"] == "consent"
    assert [p["words"] for p in surveys["phases"]] == [
        "soft delete (set deleted_at)",
        "delete permanently, with cascaded rows, 30 days after the phase before",
    ]
    assert "surveys_legalhold" in surveys["holds"]
    code, out, err = run_cli(capsys, "records", "--format", "xml")
    assert code == 2 and "--format 'xml'" in err and len(err.strip().splitlines()) == 1


def test_a_store_password_never_shows(tmp_path: Path) -> None:
    policy = tmp_path / "lethe.toml"
    policy.write_text(
        '[stores.app]\nurl = "postgresql://lethe:s3cr3t-pw@db.internal:5433/app"\n'
        '[datasets.t]\ntable = "t"\nkey = "id"\ndue_column = "d"\n'
        '[policies.p]\ndataset = "t"\n[[policies.p.actions]]\ntype = "purge"\n'
    )
    config = load_file(policy, env={}).config
    for fmt in ("md", "csv", "json"):
        text = render(schedule(config), fmt)
        assert "s3cr3t" not in text and "lethe:" not in text
        assert "postgresql db.internal:5433" in text


def _check(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, out, err = run_cli(capsys, "check")
    return code, out + err


def test_check_lists_uncovered_tables_and_requires_records(
    census: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _check(capsys)
    assert code == 0
    # auth_user is the owners' table, reached by no dataset; surveys' children are covered.
    assert "table auth_user is covered by no dataset" in out
    assert (
        "surveys_surveyresponse is covered" not in out
        and "lethe_" not in out.split("covered")[0][-40:]
    )

    policy = example_policy("census") + "\n[evidence]\nrequire_records = true\n"
    (tmp_path / "lethe.toml").write_text(policy)
    code, out = _check(capsys)
    assert code == 2
    assert "table auth_user is covered by no dataset" in out  # now an error

    without = policy.replace('legal_basis = "consent"\n', "")
    (tmp_path / "lethe.toml").write_text(without)
    code, out = _check(capsys)
    assert code == 2 and "datasets.surveys: no legal_basis" in out

    covered = policy + (
        '\n[datasets.users]\ntable = "auth_user"\nkey = "id"\ndue_column = "date_joined"\n'
        'category = "accounts"\npurpose = "sign-in"\nlegal_basis = "contract"\n'
    )
    (tmp_path / "lethe.toml").write_text(covered)
    code, out = _check(capsys)
    assert "covered by no dataset" not in out and "no legal_basis" not in out
    assert code == 0, out


def test_uncovered_tables_on_postgresql_leave_out_lethes_own(pg_url: str, tmp_path: Path) -> None:
    seeded("census", pg_url)
    policy = example_policy("census") + f'\n[state]\nurl = "{pg_url}"\n'
    with example_lethe("census", pg_url, tmp_path, policy) as lethe:
        lethe.run(as_of=NOW)  # lethe's lethe_* tables now live beside the application's
        with engine_for(pg_url).connect() as conn:
            tables = set(inspect(conn).get_table_names())
        assert {"lethe_events", "auth_user", "surveys_surveyresponse"} <= tables
        messages = [
            f.message for f in lethe.check().findings if "covered by no dataset" in f.message
        ]
        assert messages == [
            "store app: table auth_user is covered by no dataset (records of processing: add a "
            "dataset, or say why it is kept)"
        ]
