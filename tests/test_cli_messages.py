"""Error messages: one line, the file and the key, shown as written (no markup eaten), once."""

from __future__ import annotations

import re

import pytest

from tests.support.cli import census, run_cli

__all__ = ["census"]  # the fixture, imported

_EXTRA = re.compile(r"lethe-retention\[\w+\]")


def test_a_missing_driver_names_the_file_and_its_extra_once(census, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://app:pw@127.0.0.1/app")
    code, out, _ = run_cli(capsys, "check")
    assert code == 2 and out.count("no driver for") == 1
    assert _EXTRA.search(out), out
    code, _, err = run_cli(capsys, "run")
    assert code == 2 and err.startswith("lethe: error: lethe.toml: stores.app.url: no driver")
    assert _EXTRA.search(err) and err.count("\n") == 1


def test_an_unsupported_url_names_the_file(census, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "nonsense")
    code, _, err = run_cli(capsys, "plan")
    assert code == 2 and err.startswith("lethe: error: lethe.toml: stores.app.url: unsupported")


def test_a_tripped_breaker_says_how_to_go_on(census, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.cli import AS_OF

    with (tmp_path / "lethe.toml").open("a") as f:
        f.write("\n[policies.data-governance.limits.breaker]\n")
        f.write('max_rows = 1\nmax_percent = 1\nmode = "or"\n')
    for command in ("run", "plan"):
        code, out, _ = run_cli(capsys, command, *AS_OF)
        assert code == (3 if command == "run" else 0), command
        assert "raise policies.data-governance.limits.breaker.max_rows" in out
        assert "limits.max_deletions" in out
        assert "lethe plan data-governance --out plan.json -v" in out
        assert "lethe run --plan plan.json" in out and "--as-of" in out
    policy = tmp_path / "lethe.toml"
    raised = policy.read_text().replace("max_rows = 1\n", "max_rows = 100\n")
    policy.write_text(raised.replace("max_percent = 1\n", "max_percent = 100\n"))
    assert run_cli(capsys, "plan", "data-governance", "--out", "plan.json", *AS_OF)[0] == 0
    code, out, _ = run_cli(capsys, "run", "--plan", "plan.json", *AS_OF)
    assert code == 0 and "Hard deleted: 2 surveys" in out


def test_an_unknown_object_store_option_is_one_line(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lethe.toml").write_text(
        '[stores.files]\nurl = "s3://bucket/base?endpoint=http://127.0.0.1:9&bogus_option=1"\n'
        '[datasets.blobs]\nstore = "files"\nprefixes = "uploads/"\nretain = "24h"\n'
        '[policies.p]\ndataset = "blobs"\nactions = [{ type = "purge" }]\n'
    )
    code, _, err = run_cli(capsys, "run")
    assert code == 2 and err.count("\n") == 1
    assert "'bogus_option' is not valid for store 'S3'" in err and "Debug" not in err
    code, out, _ = run_cli(capsys, "check")
    assert code == 2 and "Debug" not in out and "UnknownConfigurationKey" not in out


@pytest.mark.parametrize(
    ("value", "said"),
    [("${DATABASE_URL", "has no closing brace"), ("${1BAD}", "is not ${NAME} or ${NAME:-default}")],
)
def test_a_malformed_variable_reference_is_refused(census, capsys, tmp_path, value, said) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "lethe.toml"
    text = policy.read_text()
    policy.write_text(text.replace('"${DATABASE_URL:-sqlite:///census.db}"', f'"{value}"'))
    assert value in policy.read_text()
    code, _, err = run_cli(capsys, "check")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("lethe: error: lethe.toml: stores.app.url: ") and said in err


def _demo(tmp_path, capsys):  # type: ignore[no-untyped-def]
    assert run_cli(capsys, "demo", "--dir", str(tmp_path / "d"))[0] == 0
    return tmp_path / "d" / "lethe.toml"


@pytest.mark.parametrize(
    ("test", "said"),
    [
        ('equals = "banana"', "'banana' (a string) can never equal survey_progress.is_complete"),
        ("equals = 1", "1 (a number) can never equal survey_progress.is_complete, a boolean"),
        ("in = []", "in = [] matches no row"),
        ("not_in = []", "not_in = [] excludes nothing"),
    ],
)
def test_a_filter_that_can_never_match_is_refused(
    tmp_path, capsys, monkeypatch, test, said
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "200")
    policy = _demo(tmp_path, capsys)
    policy.write_text(policy.read_text().replace("equals = false", test))
    for command in ("check", "run"):
        code, out, err = run_cli(capsys, "-c", str(policy), command)
        assert code == 2 and said in out + err, (command, out, err)
    assert "datasets.survey_progress.where[0]" in out + err
