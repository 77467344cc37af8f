"""A receipt covers all of an item: its own row, its cascaded rows and the files both named
(deleted from their storage after the batch), each deletion proved by its audit event; on
SQLite and PostgreSQL (the state colocated there). The files the receipt states are the
proved events', so a forged list fails the receipt's own check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, insert

from lethe import Lethe
from lethe.evidence import documents, receipt
from lethe.stores.files import digest, register_file_storage
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for

KIND = "receipt-test-directory"


class DirectoryStorage:
    """Files kept in one directory, named by the column (a storage as Django's would be)."""

    root: Path = Path()

    def check(self, table: str, column: str) -> str | None:
        return None if self.root.is_dir() else f"{self.root} is not a directory"

    def delete(self, table: str, column: str, names: Sequence[str]) -> dict[str, str]:
        for name in names:
            (self.root / name).unlink(missing_ok=True)
        return {}

    def discover(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        return []


register_file_storage(KIND, DirectoryStorage)

POLICY = f"""
[stores.app]
url = "{{url}}"
[state]
url = "{{state}}"
runs_dir = ""
[datasets.docs]
table = "docs"
key = "id"
due_column = "expires_at"
files = [
  {{{{ column = "attachment", storage = "{KIND}" }}}},
  {{{{ table = "pages", column = "scan", storage = "{KIND}" }}}},
]
[policies.expire]
dataset = "docs"
[[policies.expire.actions]]
type = "purge"
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("pg_url"))


def _world(url: str, tmp_path: Path) -> Path:
    """Two documents due (each with an attachment, the first with two scanned pages) and one
    not; their files on disk."""
    files = tmp_path / "files"
    files.mkdir()
    DirectoryStorage.root = files
    meta = MetaData()
    docs = Table(
        "docs", meta, Column("id", Integer, primary_key=True),
        Column("expires_at", DateTime(timezone=True)), Column("attachment", String(64)),
    )  # fmt: skip
    pages = Table(
        "pages", meta, Column("id", Integer, primary_key=True),
        Column("doc_id", Integer, ForeignKey("docs.id", ondelete="CASCADE"), nullable=False),
        Column("scan", String(64)),
    )  # fmt: skip
    engine = engine_for(url)
    meta.create_all(engine)
    rows = [(1, -1, "cv-jane.pdf"), (2, -1, "cv-john.pdf"), (3, 30, "cv-later.pdf")]
    with engine.begin() as conn:
        conn.execute(
            insert(docs),
            [
                {"id": i, "expires_at": NOW.replace(day=1) if days < 0 else NOW.replace(year=2099),
                 "attachment": name}
                for i, days, name in rows
            ],
        )  # fmt: skip
        conn.execute(
            insert(pages),
            [{"id": 1, "doc_id": 1, "scan": "p1.png"}, {"id": 2, "doc_id": 1, "scan": "p2.png"}],
        )
    engine.dispose()
    for name in ("cv-jane.pdf", "cv-john.pdf", "cv-later.pdf", "p1.png", "p2.png"):
        (files / name).write_text(name)
    policy = tmp_path / "lethe.toml"
    # On PostgreSQL lethe's state is in the application's database (its proofs read there).
    state = url if url.startswith("postgresql") else f"sqlite:///{tmp_path / 'state.db'}"
    policy.write_text(POLICY.format(url=url, state=state))
    return policy


def test_a_receipt_names_the_items_cascaded_rows_and_each_of_its_files(
    url: str, tmp_path: Path
) -> None:
    policy = _world(url, tmp_path)
    with Lethe.from_file(policy, env={}, clock=ManualClock(NOW)) as lethe:
        assert lethe.run(as_of=NOW).errors == ()
        body = receipt.receipt_body(lethe.runtime, "docs", "1")
        other = receipt.receipt_body(lethe.runtime, "docs", "2")
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["cv-later.pdf"]
    assert body["status"] == "deleted"
    deletion = body["deletion"]
    assert deletion["cascade"] == {"pages": 2}
    files = deletion["files"]
    # Each file by its table, column and name's hash (a name may be personal data): never
    # the name itself, and the other item's file is not in this receipt.
    assert sorted((f["event"], f["details"]["table"], f["details"]["column"]) for f in files) == [
        ("file_deleted", "docs", "attachment"),
        ("file_deleted", "pages", "scan"),
        ("file_deleted", "pages", "scan"),
    ]
    assert {f["details"]["file_sha256"] for f in files} == {
        digest(n) for n in ("cv-jane.pdf", "p1.png", "p2.png")
    }
    assert "cv-jane" not in json.dumps(body)
    assert [f["details"]["table"] for f in other["deletion"]["files"]] == ["docs"]
    # Every file deletion is a proved event of the receipt, after the row's deletion.
    proved = [e for e in body["events"] if e["event"] == "file_deleted"]
    assert [e["ts"] for e in proved] == [f["at"] for f in files]
    assert all(f["at"] >= deletion["at"] for f in files)
    assert receipt.check_receipt(body) == []
    assert documents.verify_document(documents.issue(receipt.KIND, body, None)).ok


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda d: d["files"].pop(), id="a-file-left-out"),
        pytest.param(lambda d: d["files"].append(dict(d["files"][0])), id="a-file-twice"),
        pytest.param(
            lambda d: d["files"][0]["details"].update(file_sha256="0" * 64), id="another-file"
        ),
        pytest.param(lambda d: d["files"][0].update(event="file_not_deleted"), id="not-deleted"),
        pytest.param(lambda d: d["files"][0].update(at="2020-01-01T00:00:00+00:00"), id="when"),
    ],
)
def test_files_stated_but_not_proved_fail_the_receipts_check(tmp_path: Path, forge: Any) -> None:
    policy = _world(f"sqlite:///{tmp_path / 'app.db'}", tmp_path)
    with Lethe.from_file(policy, env={}, clock=ManualClock(NOW)) as lethe:
        lethe.run(as_of=NOW)
        body = json.loads(json.dumps(receipt.receipt_body(lethe.runtime, "docs", "1")))
    assert receipt.check_receipt(body) == []  # as a verifier reads it: no shared objects
    forge(body["deletion"])
    problems = receipt.check_receipt(body)
    assert problems == ["the deletion's files differ from what its proved events say"]


def test_a_forged_hold_history_or_updated_rows_fail_too(tmp_path: Path) -> None:
    policy = _world(f"sqlite:///{tmp_path / 'app.db'}", tmp_path)
    with Lethe.from_file(policy, env={}, clock=ManualClock(NOW)) as lethe:
        lethe.run(as_of=NOW)
        body = json.loads(json.dumps(receipt.receipt_body(lethe.runtime, "docs", "1")))
    for path, value in (
        (("holds_checked", "held_before"), ["2026-01-01T00:00:00+00:00"]),
        (("holds_checked", "registry_history"), [{"event": "hold_placed"}]),
        (("updated",), {"pages": 1}),
        (("linked",), {"bucket": 3}),
    ):
        forged = json.loads(json.dumps(body))
        target = forged["deletion"]
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = value
        assert receipt.check_receipt(forged) == [
            f"the deletion's {'.'.join(path)} differ from what its proved events say"
        ], path
    malformed = json.loads(json.dumps(body))
    malformed["events"][-1]["details"] = "not an object"
    problems = receipt.check_receipt(malformed)  # reported, never raised
    assert problems and all(isinstance(p, str) for p in problems)
