"""Every platform of every seed, generated and checked by the platform's own validator.

``kubernetes-validate --strict``, ``actionlint``, ``cfn-lint``, ``systemd-analyze verify`` (any
stderr output is a failure), Debian cron's ``crontab -n``, ``sh -n``, Google's own
``scheduler_v1.Job`` type, and pg_cron in a real PostgreSQL read back from ``cron.job``. Each
validator is also fed a broken file, to show that it can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from google.cloud import scheduler_v1

from lethe.deploy import Artifact, write
from tests.support.deploy import PLATFORMS, from_text, render
from tests.support.postgres import postgres_server

BIN = Path(sys.executable).parent
CASES = [(example, target) for example, targets in PLATFORMS.items() for target in targets]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every example's files for every platform of its write-up, written as `lethe deploy` does."""
    root = tmp_path_factory.mktemp("deploy")
    for example, target in CASES:
        write(render(example, target)[0], root / example / target)
    for example in ("datapilot", "census"):  # systemd is in no write-up; check it on UTC jobs
        write(render(example, "systemd")[0], root / example / "systemd")
    return root


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd)


def files(out: Path, target: str, pattern: str) -> list[Path]:
    found = sorted(out.glob(f"*/{target}/{pattern}"))
    assert found, f"no {pattern} for {target}"
    return found


def test_every_write_up_platform_generates(out: Path) -> None:
    for example, target in CASES:
        assert any((out / example / target).rglob("*")), (example, target)


def _named(path: Path, into: Path) -> Path:
    """The on-demand Job as the API server stores it: ``generateName`` plus a suffix (the tool
    reads ``metadata.name`` to report on a resource)."""
    document = yaml.safe_load(path.read_text())
    document["metadata"]["name"] = document["metadata"].pop("generateName") + "x7k2q"
    named = into / path.name
    named.write_text(yaml.safe_dump(document))
    return named


def test_kubernetes_cronjobs_pass_kubernetes_validate_strict(out: Path, tmp_path: Path) -> None:
    manifests = files(out, "kubernetes", "*.yaml")
    on_demand = files(out, "kubernetes", "run-now/*.yaml")
    named = [_named(p, tmp_path) for p in on_demand]
    result = run(BIN / "kubernetes-validate", "--strict", *manifests, *named)
    assert result.returncode == 0, result.stdout + result.stderr
    document = yaml.safe_load(manifests[0].read_text())
    assert document["spec"]["concurrencyPolicy"] == "Forbid"
    assert document["spec"]["timeZone"] == "UTC"
    job = yaml.safe_load(on_demand[0].read_text())
    assert job["kind"] == "Job" and job["metadata"]["generateName"].endswith("-")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-3:-1] == ["jobs", "trigger"]
    document["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Sometimes"
    document["spec"]["schedul"] = "0 2 * * *"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document))
    assert run(BIN / "kubernetes-validate", "--strict", broken).returncode != 0


def test_kubernetes_run_now_script_is_valid_shell(out: Path) -> None:
    for script in files(out, "kubernetes", "run-now.sh"):
        assert run("sh", "-n", script).returncode == 0
        assert os.access(script, os.X_OK)


def test_github_workflows_pass_actionlint(out: Path, tmp_path: Path) -> None:
    for example in ("census", "checktick", "therapy"):
        root = out / example / "github-actions"
        workflows = sorted(root.glob(".github/workflows/*.yml"))
        result = run(BIN / "actionlint", "-no-color", *workflows, cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / ".github" / "workflows"
    broken.mkdir(parents=True)
    text = (out / "therapy/github-actions/.github/workflows/lethe-account-deletion.yml").read_text()
    (broken / "x.yml").write_text(text.replace("0 2 * * *", "0 2 * * 7"))
    assert run(BIN / "actionlint", "-no-color", broken / "x.yml", cwd=tmp_path).returncode != 0


def test_github_workflows_reference_secrets_and_carry_the_zone(tmp_path: Path) -> None:
    text = POLICY + '[[jobs]]\nname = "nightly"\nschedule = "30 1 * * *"\n'
    text += 'timezone = "Europe/Berlin"\npolicies = ["p"]\n'
    artifacts, _ = from_text(text, "github-actions")
    workflow = yaml.safe_load(artifacts[0].text)
    assert workflow["on"]["schedule"] == [{"cron": "30 1 * * *", "timezone": "Europe/Berlin"}]
    env = workflow["jobs"]["tick"]["steps"][-1]["env"]
    assert env == {"DATABASE_URL": "${{ secrets.DATABASE_URL }}"}
    write(artifacts, tmp_path)
    (workflow_file,) = tmp_path.glob(".github/workflows/*.yml")
    assert run(BIN / "actionlint", "-no-color", workflow_file, cwd=tmp_path).returncode == 0


def test_cloudformation_passes_cfn_lint(out: Path, tmp_path: Path) -> None:
    templates = files(out, "eventbridge", "eventbridge.yaml")
    rules = POLICY + '[[jobs]]\nname = "nightly"\nschedule = "0 0 13 * FRI"\npolicies = ["p"]\n'
    rules += '[deploy.eventbridge]\napi = "rules"\n'
    write(from_text(rules, "eventbridge")[0], tmp_path / "rules")
    both = from_text(rules.replace('api = "rules"', 'api = "scheduler"'), "eventbridge")[0]
    write(both, tmp_path / "scheduler")
    templates += [tmp_path / "rules/eventbridge.yaml", tmp_path / "scheduler/eventbridge.yaml"]
    result = run(BIN / "cfn-lint", *templates)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cron(0 0 ? * FRI *)" in both[0].text and "cron(0 0 13 * ? *)" in both[0].text
    broken = tmp_path / "broken.yaml"
    broken.write_text(templates[0].read_text().replace("LaunchType: FARGATE", "LaunchType: BOAT"))
    assert run(BIN / "cfn-lint", broken).returncode != 0


def test_eventbridge_cli_json_has_the_api_shape(out: Path) -> None:
    for path in files(out, "eventbridge", "schedules/*.json"):
        document = yaml.safe_load(path.read_text())
        assert set(document) >= {"Name", "ScheduleExpression", "FlexibleTimeWindow", "Target"}
        network = document["Target"]["EcsParameters"]["NetworkConfiguration"]
        assert set(network) == {"awsvpcConfiguration"}


@pytest.fixture
def systemd_root(tmp_path: Path) -> Path:
    """A root for ``systemd-analyze verify --root``: the distribution's unit files (for
    timers.target and its dependencies) and the executables the units name. This works as
    root in a container without systemd as PID 1."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    stub = root / "usr/local/bin/lethe"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    return root


def _verify(root: Path, units: list[Path]) -> subprocess.CompletedProcess[str]:
    for unit in units:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    return run("systemd-analyze", "verify", f"--root={root}", *(u.name for u in units))


def test_systemd_units_pass_systemd_analyze_verify(out: Path, systemd_root: Path) -> None:
    units = files(out, "systemd", "*.service") + files(out, "systemd", "*.timer")
    result = _verify(systemd_root, units)
    assert result.returncode == 0 and not result.stderr, result.stderr


def test_systemd_analyze_verify_reports_a_bad_key_on_stderr(out: Path, systemd_root: Path) -> None:
    timer = files(out, "systemd", "*.timer")[0]
    service = timer.with_suffix(".service")
    broken = systemd_root.parent / timer.name
    broken.write_text(timer.read_text().replace("Persistent=true", "Persistant=true"))
    result = _verify(systemd_root, [service, broken])
    assert result.returncode == 0 and "Unknown key" in result.stderr  # exit 0, yet broken


def test_cron_files_pass_crontab_n(out: Path, tmp_path: Path) -> None:
    for cron_file in files(out, "crontab", "cron.d/*"):
        assert "." not in cron_file.name
        result = run("crontab", "-n", cron_file)
        assert result.returncode == 0, result.stderr
    broken = tmp_path / "broken"
    broken.write_text("0 2 * * 8 root /bin/true\n")
    assert run("crontab", "-n", broken).returncode != 0


def test_the_cron_wrapper_locks_logs_and_passes_the_exit_code_through(tmp_path: Path) -> None:
    fake = tmp_path / "lethe"
    fake.write_text('#!/bin/sh\necho "lethe $*"\nexit 3\n')
    fake.chmod(0o755)
    text = (
        POLICY + f'[deploy]\ncommand = ["{fake}"]\n[deploy.crontab]\nlog_dir = "{tmp_path}/log"\n'
    )
    text += '[[jobs]]\nname = "nightly"\nschedule = "0 2 * * *"\npolicies = ["p"]\n'
    artifacts, _ = from_text(text, "crontab")
    write(artifacts, tmp_path / "out")
    (wrapper,) = (tmp_path / "out/bin").iterdir()
    assert run("sh", "-n", wrapper).returncode == 0
    assert run(wrapper, "nightly").returncode == 3
    log = (tmp_path / "log/nightly.log").read_text()
    assert "--config lethe.toml tick nightly" in log and "exit 3" in log
    assert run(wrapper, "other").returncode == 2


def test_cloud_scheduler_jobs_load_as_google_job_types(out: Path) -> None:
    paths = files(out, "cloud-scheduler", "*/jobs/*.json")
    assert len(paths) == 18  # six jobs, three stages
    for path in paths:
        job = scheduler_v1.Job.from_json(path.read_text())
        assert job.time_zone == "Australia/Sydney"
        assert job.http_target.http_method == scheduler_v1.HttpMethod.POST
        assert job.http_target.oidc_token.service_account_email
        assert job.http_target.uri.endswith("/runs")
    dev = out / "validibot/cloud-scheduler/dev/jobs/validibot-clear-sessions-dev.json"
    assert scheduler_v1.Job.from_json(dev.read_text()).schedule == "0 2 * * *"
    with pytest.raises(Exception, match="scheduel"):
        scheduler_v1.Job.from_json('{"scheduel": "0 2 * * *"}')


def test_cloud_scheduler_scripts_are_valid_shell(out: Path) -> None:
    for script in files(out, "cloud-scheduler", "*/scheduler.sh"):
        assert run("sh", "-n", script).returncode == 0
    prod = (out / "validibot/cloud-scheduler/prod/scheduler.sh").read_text()
    assert "validibot-clear-sessions " in prod and "clear-sessions-prod" not in prod


@pytest.fixture(scope="module")
def pg_cron() -> Iterator[str]:
    settings = {"shared_preload_libraries": "pg_cron", "cron.database_name": "postgres"}
    with postgres_server(settings=settings) as url:
        yield url.replace("postgresql+psycopg://", "postgresql://")


def test_pg_cron_sql_schedules_in_a_real_postgres_and_reruns_as_an_update(
    out: Path, pg_cron: str
) -> None:
    sql = (out / "therapy/pg-cron/pg_cron.sql").read_text()
    with psycopg.connect(pg_cron, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        conn.execute(sql)
        conn.execute(sql.replace("'0 2 * * *'", "'0 3 * * *'"))  # cron.schedule by name updates
        rows = conn.execute("SELECT jobname, schedule, command FROM cron.job").fetchall()
        assert len(rows) == 1
        name, schedule, command = rows[0]
        assert (name, schedule) == ("lethe-therapy-account-deletion", "0 3 * * *")
        assert "/jobs/account-deletion/runs" in command
        assert "current_setting('lethe.trigger_token')" in command
        conn.execute((out / "therapy/pg-cron/pg_cron_unschedule.sql").read_text())
        assert conn.execute("SELECT count(*) FROM cron.job").fetchone() == (0,)
        with pytest.raises(psycopg.Error):
            conn.execute("SELECT cron.schedule('x', '0 2 * * 8', 'SELECT 1')")


def test_windows_tasks_are_utf16le_with_a_bom_and_parse(out: Path) -> None:
    for path in files(out, "windows", "*.xml"):
        raw = path.read_bytes()
        assert raw[:2] == b"\xff\xfe"
        text = raw[2:].decode("utf-16-le")
        assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>')
        root = ET.fromstring(text.split("\n", 1)[1])
        ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
        assert root.find("t:Triggers/t:CalendarTrigger/t:StartBoundary", ns) is not None
        assert root.find("t:Actions/t:Exec/t:Arguments", ns).text.endswith("tick cleanup")  # type: ignore[union-attr]


def test_compose_runs_lethe_scheduler(out: Path) -> None:
    (path,) = files(out, "compose", "compose.lethe.yaml")[:1]
    service = yaml.safe_load(path.read_text())["services"]["lethe-scheduler"]
    assert service["command"][-1] == "scheduler" and service["restart"] == "unless-stopped"


def test_heroku_entries_and_northflank_jobs(out: Path) -> None:
    heroku = (out / "checktick/heroku/heroku-scheduler.txt").read_text()
    assert "Every day at 02:00 UTC" in heroku and "Every day at 03:00 UTC" in heroku
    northflank = yaml.safe_load((out / "census/northflank/census-data-governance.json").read_text())
    assert northflank["settings"]["cron"]["schedule"] == "0 2 * * *"


def _artifact_paths(artifacts: list[Artifact]) -> list[str]:
    return [a.path for a in artifacts]


POLICY = """
[stores.app]
url = "${DATABASE_URL:-sqlite:///app.db}"
[datasets.d]
table = "t"
key = "id"
due_column = "due"
[policies.p]
dataset = "d"
[[policies.p.actions]]
type = "purge"
"""
