"""``lethe evidence verify`` on documents, offline: no policy file, no database."""

from __future__ import annotations

import json
from pathlib import Path

from lethe.cli.app import main
from lethe.evidence import documents

documents.register("lethe.cli-test", lambda body: [])


def test_verify_passes_an_intact_document_and_fails_an_edited_one(
    tmp_path: Path, capsys: object
) -> None:
    doc = tmp_path / "doc.json"
    doc.write_bytes(documents.issue("lethe.cli-test", {"runs": 1}, None))
    assert main(["-c", str(tmp_path / "none.toml"), "evidence", "verify", str(doc)]) == 0
    assert "verifies, unsigned" in capsys.readouterr().out  # type: ignore[attr-defined]
    doc.write_bytes(doc.read_bytes().replace(b'"runs":1', b'"runs":2 '))
    assert main(["evidence", "verify", str(doc), "--json"]) == 4
    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert out["ok"] is False and out["problems"]


def test_verify_of_a_missing_file_is_one_line_exit_6(tmp_path: Path, capsys: object) -> None:
    assert main(["evidence", "verify", str(tmp_path / "missing.json")]) == 6
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.count("\n") == 1 and "cannot read" in err
