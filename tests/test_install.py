"""The README's Install section, followed from a fresh virtual environment with the wheel built
from this tree: the package and its LICENSE, the base package's drivers, the demo, each extra's
driver; and no internal jargon in what a user reads."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
#: Extras for working on lethe itself, not for users: the README's table leaves them out.
DEVELOPMENT_EXTRAS = {"test", "bench"}


def _run(
    argv: list[str | Path], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def _install_section() -> str:
    return README.split("## Install\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from it (so the sdist provably holds everything)."""
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--outdir", out, ROOT], ROOT, timeout=300)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, dist: dict[str, Path]) -> Path:
    """A fresh virtual environment holding only the base package (pinned as the lock file)."""
    env = tmp_path_factory.mktemp("venv")
    made = _run([sys.executable, "-m", "venv", "--without-pip", env], env)
    assert made.returncode == 0, made.stderr
    _pip_install(env, str(dist["wheel"]))
    return env


def _pip_install(env: Path, requirement: str) -> None:
    done = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            env / "bin" / "python",
            "install",
            "--quiet",
            "--no-compile",
            "--disable-pip-version-check",
            "-c",
            ROOT / "requirements.lock",
            requirement,
        ],
        env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_license_matches_pyproject_and_ships_in_wheel_and_sdist(dist: dict[str, Path]) -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
        shipped = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        assert wheel.read(shipped).decode() == license_text
        metadata = Parser().parsestr(
            wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        )
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    with tarfile.open(dist["sdist"]) as sdist:
        member = next(m for m in sdist.getmembers() if m.name.endswith("/LICENSE"))
        extracted = sdist.extractfile(member)
        assert extracted is not None and extracted.read().decode() == license_text


def test_the_readme_lists_every_extra_the_package_has(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        extras = set(Parser().parsestr(wheel.read(name).decode()).get_all("Provides-Extra") or [])
    listed = set(re.findall(r"^\| `\[(\w+)\]` \|", _install_section(), re.M))
    assert listed == extras - DEVELOPMENT_EXTRAS


def test_the_base_package_runs_the_demo_and_names_the_extra_a_server_needs(
    venv: Path, tmp_path: Path
) -> None:
    section = _install_section()
    assert 'pip install "lethe-retention[postgres]"' in section and "\nlethe demo" in section
    lethe = venv / "bin" / "lethe"
    demo = _run([lethe, "demo"], tmp_path)  # as the README says: in the current directory
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "Audit chain verifies" in demo.stdout
    assert (tmp_path / "lethe-demo" / "lethe.toml").exists()
    # The base package has no server driver, and says which extra brings one.
    policy = (tmp_path / "lethe-demo" / "lethe.toml").read_text()
    probe = (
        "import sys\n"
        "from lethe.errors import ConfigError\n"
        "from lethe.stores.sql.engine import create_sql_engine\n"
        "try:\n"
        "    create_sql_engine(sys.argv[1], where='stores.app.url')\n"
        "except ConfigError as exc:\n"
        "    print(exc.message)\n"
    )
    for url, extra in [
        ("postgresql://app@127.0.0.1:9/app", "lethe-retention[postgres]"),
        ("mysql://app@127.0.0.1:9/app", "lethe-retention[mysql]"),
    ]:
        server = tmp_path / f"{extra[-8:-1]}.toml"
        server.write_text(re.sub(r'(\[stores\.app\]\nurl = )"[^"]*"', rf'\1"{url}"', policy))
        check = _run([lethe, "-c", server, "check"], tmp_path)
        assert check.returncode == 2 and "no driver for" in check.stdout + check.stderr, check
        said = _run([venv / "bin" / "python", "-c", probe, url], tmp_path)
        assert f'pip install "{extra}"' in said.stdout, said


def test_each_extra_brings_the_driver_its_urls_need(venv: Path, dist: dict[str, Path]) -> None:
    _pip_install(venv, f"{dist['wheel']}[postgres,mysql]")
    probe = (
        "from lethe.stores.sql.engine import create_sql_engine\n"
        "for url in ('postgresql://a@h/d', 'mysql://a@h/d', 'mariadb://a@h/d'):\n"
        "    print(create_sql_engine(url, where='x').dialect.driver)\n"
    )
    done = _run([venv / "bin" / "python", "-c", probe], venv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["psycopg", "pymysql", "pymysql"]


_JARGON = re.compile(r"\bseeds\b|\bseed \d|\bseed (?:system|write)|\b[Ww]rite-?ups?\b")


def test_what_a_user_reads_describes_examples_by_their_apps_not_our_jargon() -> None:
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").rglob("*.toml")),
        *sorted((ROOT / "examples").rglob("*.py")),
        *sorted((ROOT / "src" / "lethe" / "demo").iterdir()),
    ]
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files
        if path.is_file()
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if _JARGON.search(line)
    ]
    assert found == []
