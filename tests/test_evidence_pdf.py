"""``lethe evidence run --format pdf``: the certificate as a PDF from real runs, rendered to an
image (pypdfium2) and read back (pypdf); the embedded signed JSON is what verify checks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdfium2
import pytest
from pypdf import PdfReader, PdfWriter
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert

from lethe import Lethe
from lethe.config.evidence import EvidenceConfig
from lethe.evidence import certificate, certificate_pdf, documents
from lethe.evidence.signing import Signer, generate_key_pem, load_signer
from tests.support.apps import NOW, engine_for, example_lethe, example_policy, seeded
from tests.support.cli import AS_OF, census, run_cli

__all__ = ["census"]  # the fixture, imported

A4_POINTS = (595.28, 841.89)


def _signer(tmp_path: Path) -> Signer:
    key = tmp_path / "issuer.pem"
    key.write_text(generate_key_pem())
    signer = load_signer(EvidenceConfig(signing_key_file=str(key)))
    assert signer is not None
    return signer


def _census_document(tmp_path: Path, signer: Signer | None, organisation: str = "") -> bytes:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded("census", url)
    policy = example_policy("census")
    if organisation:
        policy += f'\n[evidence]\norganisation = "{organisation}"\nsystem = "Census"\n'
    with example_lethe("census", url, tmp_path, policy) as lethe:
        lethe.run(as_of=NOW)
        record = lethe.run_record(lethe.runs(1)[0]["runId"])
        body = certificate.certificate_body(lethe.runtime, record)
    return documents.issue(certificate.KIND, body, signer, now=NOW)


def _page_image_ink(pdf: bytes, index: int = 0) -> tuple[tuple[float, float], float]:
    """Page ``index``'s size in points, and the share of its pixels that are not white."""
    doc = pypdfium2.PdfDocument(pdf)
    try:
        page = doc[index]
        size = page.get_size()
        image = page.render(scale=0.5).to_pil().convert("L")
        histogram = image.histogram()  # pixels per grey level, 0 black to 255 white
        return size, sum(histogram[:200]) / sum(histogram)
    finally:
        doc.close()


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _reembedded(pdf: bytes, files: list[tuple[str, bytes]]) -> bytes:
    """The same visible pages with ``files`` embedded instead of what ``pdf`` embeds."""
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        writer.add_page(page)
    for name, data in files:
        writer.add_attachment(name, data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_pdf_renders_the_certificate_and_embeds_its_exact_bytes(tmp_path: Path) -> None:
    signer = _signer(tmp_path)
    document = _census_document(tmp_path, signer)
    body = json.loads(document)["body"]
    pdf = certificate_pdf.render_certificate(document)

    size, ink = _page_image_ink(pdf)
    assert size == pytest.approx(A4_POINTS, abs=0.1)
    assert 0.01 < ink < 0.5, ink  # text on it, not a blank or a black page
    text = _text(pdf)
    assert body["run_id"] in text and "Certificate of Data Deletion" in text
    for count in body["counts"]:
        assert count["target"] in text
    assert f"Total all actions {body['totals']['rows']}" in text
    assert "row deletion" in text and signer.key_id in text
    assert "Overdue at issue 0 items" in text

    name, embedded = certificate_pdf.embedded_document(pdf, "c.pdf")
    assert name == f"lethe-certificate-{body['run_id']}.json" and embedded == document
    assert documents.verify_document(embedded, trusted_keys=(signer.public_key,)).ok
    # Deterministic: the same certificate gives the same file.
    assert certificate_pdf.render_certificate(document) == pdf


def test_one_changed_byte_in_the_embedded_json_fails_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _census_document(tmp_path, _signer(tmp_path))
    pdf = certificate_pdf.render_certificate(document)
    good = tmp_path / "good.pdf"
    good.write_bytes(pdf)
    code, out, err = run_cli(capsys, "evidence", "verify", str(good))
    assert code == 0 and "the embedded lethe-certificate-" in out, (out, err)
    assert "verifies, signed by key" in out

    name, _ = certificate_pdf.embedded_document(pdf, "good.pdf")
    at = document.index(b'"rows":') + len(b'"rows":')
    edited = document[:at] + bytes([document[at] ^ 0x01]) + document[at + 1 :]  # a digit
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(_reembedded(pdf, [(name, edited)]))
    code, out, err = run_cli(capsys, "evidence", "verify", str(bad))
    assert code == 4 and "signature does not match" in out, (out, err)

    # The same edit made in the PDF file's own bytes (the attachment is stored uncompressed).
    raw = pdf.index(document) + at
    flipped = tmp_path / "flipped.pdf"
    flipped.write_bytes(pdf[:raw] + bytes([pdf[raw] ^ 0x01]) + pdf[raw + 1 :])
    code, out, err = run_cli(capsys, "evidence", "verify", str(flipped))
    assert code == 4 and "signature does not match" in out, (out, err)


@pytest.mark.parametrize("count", [0, 2])
def test_a_pdf_without_exactly_one_embedded_document_exits_4_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], count: int
) -> None:
    document = _census_document(tmp_path, None)
    pdf = certificate_pdf.render_certificate(document)
    path = tmp_path / "c.pdf"
    path.write_bytes(_reembedded(pdf, [(f"copy{i}.json", document) for i in range(count)]))
    code, out, err = run_cli(capsys, "evidence", "verify", str(path))
    assert code == 4 and out == "", (out, err)
    assert len(err.strip().splitlines()) == 1 and f"embeds {count}" in err, err


def test_a_damaged_pdf_exits_4_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    code, out, err = run_cli(capsys, "evidence", "verify", str(path))
    assert code == 4 and out == "" and len(err.strip().splitlines()) == 1, (out, err)
    assert "c.pdf" in err


def test_a_non_latin1_organisation_renders_folded_and_stays_exact_inside(
    tmp_path: Path,
) -> None:
    organisation = "Łódź Müller データ Ltd — “Zürich”"
    document = _census_document(tmp_path, None, organisation)
    assert json.loads(document)["body"]["organisation"] == organisation
    pdf = certificate_pdf.render_certificate(document)
    _, ink = _page_image_ink(pdf)
    assert ink > 0.01
    text = _text(pdf)
    assert 'Lódz Müller ??? Ltd - "Zürich"' in text
    assert "outside Latin-1" in text
    assert certificate_pdf.embedded_document(pdf, "c.pdf")[1] == document


def test_latin1_folding() -> None:
    assert certificate_pdf.latin1("café ő ł 中 – …") == "café o l ? - ..."


TABLES = 36


def test_a_run_over_many_tables_paginates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'many.db'}"
    engine = engine_for(url)
    meta = MetaData()
    columns = ("id", Integer, {"primary_key": True}), ("expires_at", DateTime(timezone=True), {})
    tables = [
        Table(f"events_{i:02d}", meta, *(Column(n, t, **kw) for n, t, kw in columns))
        for i in range(TABLES)
    ]
    meta.create_all(engine)
    with engine.begin() as conn:
        for i, table in enumerate(tables):
            conn.execute(insert(table), [{"id": k, "expires_at": NOW} for k in range(i % 4 + 1)])
    policy = [f'[stores.app]\nurl = "{url}"\n[limits.breaker]\nenabled = false\n']
    for i in range(TABLES):
        policy.append(
            f'[datasets.events_{i:02d}]\ntable = "events_{i:02d}"\nkey = "id"\n'
            f'due_column = "expires_at"\ncategory = "events {i:02d}"\n'
            f'[policies.expire_{i:02d}]\ndataset = "events_{i:02d}"\n'
            f'[[policies.expire_{i:02d}.actions]]\ntype = "purge"\n'
        )
    with Lethe.from_toml("".join(policy), base_dir=tmp_path) as lethe:
        lethe.run(as_of=NOW)
        record = lethe.run_record(lethe.runs(1)[0]["runId"])
        body = certificate.certificate_body(lethe.runtime, record)
    assert len(body["counts"]) == TABLES
    pdf = certificate_pdf.render_certificate(documents.issue(certificate.KIND, body, None))
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 4
    text = _text(pdf)
    for i in range(TABLES):  # every row reached the pages, none was cut off
        assert f"events_{i:02d}" in text
    assert f"Total all actions {body['totals']['rows']}" in text
    for index in range(len(reader.pages)):
        size, ink = _page_image_ink(pdf, index)
        assert size == pytest.approx(A4_POINTS, abs=0.1) and ink > 0.005


def test_the_command_writes_a_pdf_that_verify_accepts(
    census: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "run", *AS_OF)
    assert code in (0, 1), err
    run_id = json.loads(run_cli(capsys, "runs", "--json")[1])[0]["runId"]
    out_file = tmp_path / "c.pdf"
    code, out, err = run_cli(
        capsys, "evidence", "run", run_id, "--format", "pdf", "--out", str(out_file)
    )
    assert code == 0 and "embedded as lethe-certificate-" in out, (out, err)
    assert certificate_pdf.is_pdf(out_file.read_bytes())
    code, out, err = run_cli(capsys, "evidence", "verify", str(out_file), "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["ok"] and verdict["embedded"].endswith(".json"), (out, err)

    code, out, err = run_cli(capsys, "evidence", "run", run_id, "--format", "pdf")
    assert code == 2 and out == "" and "--out" in err and len(err.strip().splitlines()) == 1
