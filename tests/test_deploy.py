"""``lethe deploy``: refusals with one line and nothing written, ``--approximate=tick``,
secrets referenced and never written, headers, names, and the registry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lethe import secrets
from lethe.cli.app import main
from lethe.config.deploy import DeployConfig
from lethe.config.loader import load
from lethe.config.schema import json_schema
from lethe.deploy import TARGETS, Target, context_for, generate
from lethe.deploy.timing import tick_candidates
from lethe.errors import DeployRefusedError
from lethe.schedule.cron import Schedule
from tests.support.deploy import EXAMPLES, NOW, PLATFORMS, from_text, render

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


def job(schedule: str, zone: str = "UTC", name: str = "nightly", extra: str = "") -> str:
    return POLICY + (
        f'[[jobs]]\nname = "{name}"\nschedule = "{schedule}"\ntimezone = "{zone}"\n'
        f'policies = ["p"]\n{extra}'
    )


# (target, policy, what the one-line reason says)
REFUSALS = [
    ("heroku", job("0 2 * * *", "Australia/Sydney"), "Heroku Scheduler fires in UTC only"),
    ("heroku", job("15 2 * * *"), "only runs every 10 minutes, hourly"),
    ("northflank", job("0 2 * * *", "Europe/Berlin"), "Northflank fires in UTC only"),
    ("pg-cron", job("0 2 * * *", "Europe/Berlin"), "pg_cron 1.4 reads schedules in GMT"),
    (
        "pg-cron",
        job("0 2 * * *", "Europe/Berlin", extra='[deploy.pg-cron]\nversion = "1.6"\n'),
        "its one cron.timezone, UTC",
    ),
    ("windows", job("0 2 * * *", "Europe/Berlin"), "Task Scheduler reads triggers in the machine"),
    ("windows", job("7,19,31,43,55 1-23/2 * * *"), "would need 60 triggers"),
    ("crontab", job("0 2 * * *", "Europe/Berlin"), "Debian cron reads schedules in the machine"),
    (
        "eventbridge",
        job("0 2 * * *", "Europe/Berlin", extra='[deploy.eventbridge]\napi = "rules"\n'),
        "EventBridge fires in UTC only",
    ),
    ("github-actions", job("*/2 * * * *"), "at most every 5 minutes"),
    ("kubernetes", job("0 0 */2 * MON"), "write the days out"),
    ("kubernetes", job("30 2 * * *", "Europe/Berlin"), "Kubernetes skips the 2027-03-28 slot"),
    ("systemd", job("30 2 * * *", "Europe/Berlin"), "systemd skips the 2027-03-28 slot"),
    ("eventbridge", job("0 2 * * *", "Australia/Sydney"), "EventBridge skips the 2026-10-04"),
]


@pytest.mark.parametrize(("target", "policy", "reason"), REFUSALS, ids=lambda v: str(v)[:24])
def test_a_target_that_cannot_carry_the_schedule_or_zone_refuses(
    target: str, policy: str, reason: str
) -> None:
    with pytest.raises(DeployRefusedError) as raised:
        from_text(policy, target)
    message = str(raised.value)
    assert reason in message and "\n" not in message
    assert message.startswith("lethe.toml: jobs[0]: ") and "--approximate=tick" in message


@pytest.mark.parametrize(("target", "policy", "reason"), REFUSALS, ids=lambda v: str(v)[:24])
def test_approximate_tick_fires_lethe_tick_on_a_coarser_schedule_with_a_warning(
    target: str, policy: str, reason: str
) -> None:
    artifacts, context = from_text(policy, target, approximate=True)
    (warning,) = context.warnings[:1]
    assert reason in warning and "emitting the tick" in warning
    assert "the slot ledger keeps the exact schedule" in warning
    assert any("fired by the tick" in a.text for a in artifacts)
    assert "nightly" in artifacts[0].text


def test_a_tick_fires_at_every_slot_when_it_can_and_says_how_late_when_it_cannot() -> None:
    _, context = from_text(job("0 2 * * *", "Australia/Sydney"), "heroku", approximate=True)
    assert "'0 * * * *' (UTC)" in context.warnings[0]
    assert "fires at every slot's minute, so no slot starts late" in context.warnings[0]
    _, context = from_text(job("2-59/5 * * * *"), "heroku", approximate=True)
    assert "'*/10 * * * *' (UTC)" in context.warnings[0]
    assert "up to 8 minutes late" in context.warnings[0]


_ZONES = st.sampled_from(["UTC", "Australia/Sydney", "Europe/Berlin", "Australia/Lord_Howe"])
_EXPRESSIONS = st.sampled_from(
    ["0 2 * * *", "30 1 * * 0", "0 * * * *", "2-59/5 * * * *", "15 3 1 * *", "45 */3 * * *"]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_EXPRESSIONS, _ZONES, st.sampled_from(["UTC", "Europe/Berlin"]))
def test_every_tick_candidate_fires_at_every_slot(
    expression: str, zone: str, tick_zone: str
) -> None:
    """Over the coming year's DST changes: each candidate tick fires at every slot."""
    schedule = Schedule.parse(expression, zone)
    start = NOW.replace(hour=0)
    for candidate in tick_candidates(schedule, tick_zone, start)[:3]:
        tick = Schedule.parse(candidate, tick_zone)
        for probe in (start, start + timedelta(days=120), start + timedelta(days=300)):
            end = probe + timedelta(days=8)
            for slot in schedule.after(probe):
                if slot > end:
                    break
                assert tick.next_after(slot - timedelta(seconds=1)) == slot, (candidate, slot)


def test_names_that_do_not_fit_are_refused() -> None:
    long_name = "a-very-long-job-name-that-kubernetes-cannot-take-whole"
    with pytest.raises(DeployRefusedError, match="Kubernetes allows 52"):
        from_text(job("0 2 * * *", name=long_name), "kubernetes")
    artifacts, _ = from_text(job("0 2 * * *", name="Nightly_Run"), "kubernetes")
    assert artifacts[0].path == "lethe-nightly-run.yaml"  # project from the directory name
    artifacts, _ = render("census", "crontab")
    assert all("." not in Path(a.path).name for a in artifacts if a.path.startswith("cron.d/"))


def test_cloud_scheduler_names_carry_the_stage_except_production() -> None:
    artifacts, _ = render("validibot", "cloud-scheduler", stage="dev")
    assert "dev/jobs/validibot-clear-sessions-dev.json" in [a.path for a in artifacts]
    artifacts, _ = render("validibot", "cloud-scheduler", stage="prod")
    assert "prod/jobs/validibot-clear-sessions.json" in [a.path for a in artifacts]
    with pytest.raises(DeployRefusedError, match="unknown stage 'qa'"):
        render("validibot", "cloud-scheduler", stage="qa")


SECRETS = {
    "DATABASE_URL": "postgresql://app:pw-Xq83-never-written@db.internal/app",
    "LETHE_TRIGGER_TOKEN": "tok-5d1b2a9c-never-written-anywhere",
    "EMAIL_HOST_PASSWORD": "smtp-7c2e-never-written",
    "REDIS_URL": "redis://:redis-9f1-never-written@cache:6379/0",
    "LETHE_OIDC_AUDIENCE": "https://validibot-worker.example.run.app",
}


@pytest.mark.parametrize("example", sorted(PLATFORMS))
def test_no_secret_from_the_environment_reaches_any_generated_file(example: str) -> None:
    """Every target, for every example, with secrets in the environment: none is written."""
    for target in sorted(TARGETS):
        artifacts, _ = render(example, target, env=SECRETS, approximate=True)
        for artifact in artifacts:
            for name, value in SECRETS.items():
                if name != "LETHE_OIDC_AUDIENCE":
                    assert value not in artifact.text, (target, artifact.path, name)
                    assert value.split("@")[0][-12:] not in artifact.text


def test_a_deploy_value_taken_from_a_secret_variable_is_refused() -> None:
    text = job("0 2 * * *") + '[deploy.pg-cron]\nurl = "https://${API_TOKEN}@api.example.com"\n'
    settings = load(text, env={"API_TOKEN": "tok-1234567890-secret"})
    assert secrets.scrub("tok-1234567890-secret") == secrets.MASK
    context = context_for(settings, text, now=NOW)
    with pytest.raises(DeployRefusedError, match="would contain a secret"):
        generate("pg-cron", settings.config.jobs, settings.config.jobs, context)


def test_every_generated_text_file_says_it_is_generated_and_from_which_job() -> None:
    for example, targets in PLATFORMS.items():
        for target in targets:
            artifacts, _ = render(example, target)
            for artifact in artifacts:
                assert "Generated by `lethe deploy" in artifact.text, artifact.path
                assert "lethe.toml" in artifact.text


def test_every_target_is_registered_documented_and_configurable() -> None:
    assert sorted(TARGETS) == [
        "cloud-scheduler", "compose", "crontab", "eventbridge", "github-actions", "heroku",
        "kubernetes", "northflank", "pg-cron", "systemd", "windows",
    ]  # fmt: skip
    fields = {f.alias or name: f for name, f in DeployConfig.model_fields.items()}
    defs = json_schema()["$defs"]
    for name, cls in TARGETS.items():
        assert issubclass(cls, Target) and cls.name == name and cls.__doc__ and cls.title
        assert name in fields, f"[deploy.{name}] has no settings model"
        settings_model = fields[name].annotation
        assert settings_model is not None and settings_model.__doc__
        assert settings_model.__name__ in defs


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_refusal_exits_2_with_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES / "validibot")
    out = tmp_path / "out"
    code, stdout, err = _cli(capsys, "deploy", "heroku", "--out", str(out))
    assert code == 2 and not out.exists() and not stdout
    assert err.count("\n") == 1 and err.startswith("lethe: error: lethe.toml: jobs[0]: heroku")


def test_cli_approximate_writes_and_warns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES / "validibot")
    out = tmp_path / "out"
    code, stdout, err = _cli(
        capsys,
        "deploy",
        "heroku",
        "--approximate",
        "tick",
        "--job",
        "clear-sessions",
        "--out",
        str(out),
    )
    assert code == 0 and (out / "heroku-scheduler.txt").exists()
    assert str(out / "heroku-scheduler.txt") in stdout
    assert "lethe: warning: lethe.toml: jobs[0]: heroku cannot run job 'clear-sessions'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy", "nomad"], "unknown deployment target 'nomad'"),
        (["deploy", "heroku", "--approximate", "round"], "--approximate takes 'tick'"),
        (["deploy", "kubernetes", "--job", "nope"], "unknown job 'nope'"),
        (["deploy", "compose", "--job", "clear-sessions"], "drop --job"),
    ],
)
def test_cli_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(EXAMPLES / "validibot")
    code, _, err = _cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert code == 2 and message in err and not (tmp_path / "out").exists()


def test_cli_prints_to_stdout_with_out_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES / "census")
    code, stdout, _ = _cli(capsys, "deploy", "kubernetes", "--out", "-")
    assert code == 0 and "==> census-data-governance.yaml <==" in stdout
    assert "kind: CronJob" in stdout
