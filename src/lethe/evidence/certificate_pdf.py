"""The deletion certificate as a PDF (``lethe evidence run --format pdf``), and the way back.

The PDF is evidence, not a picture of it: the exact signed certificate (the bytes ``lethe
evidence run`` writes as JSON) is embedded in it as a file attachment, and the pages are a
rendering of that file, laid out after NIST SP 800-88 Rev. 1's sample certificate of
sanitization (who, what, where, method, tool, when, verification). :func:`embedded_document`
takes the attachment back out, so ``lethe evidence verify`` checks the embedded bytes exactly as
it checks a JSON file; the visible text is not checked and carries no weight of its own.

The pages use the PDF core font Helvetica, which covers Latin-1 only (no Unicode font ships in a
pinned package): other characters in names are folded to their base letter where Unicode has
one (``ő`` → ``o``) and shown as ``?`` otherwise, and the page says so. The embedded certificate
keeps the exact text. The PDF is deterministic: the same certificate renders to the same bytes
(its dates are the certificate's ``issued_at``).

fpdf2 renders and pypdf reads; both are imported only when a PDF is made or read.
"""

from __future__ import annotations

import hashlib
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lethe.errors import AuditIntegrityError

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = ["attachment_name", "embedded_document", "is_pdf", "latin1", "render_certificate"]

_PAGE_WIDTH = 180.0  # A4 (210 mm) less 15 mm margins
_FONT = "Helvetica"
_MONO = "Courier"
# Punctuation outside Latin-1 that reads the same folded (NFKD leaves these alone).
_PUNCTUATION = str.maketrans(
    {
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"',
        "\u201e": '"', "\u2022": "*", "\u2026": "...", "\u2192": "->", "\u2212": "-",
        # Letters with a stroke or ligatures, which Unicode does not decompose.
        "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0152": "OE",
        "\u0153": "oe", "\u0131": "i", "\u0126": "H", "\u0127": "h",
    }
)  # fmt: skip


def is_pdf(data: bytes) -> bool:
    """Whether ``data`` is a PDF file (by its header)."""
    return data[:1024].lstrip().startswith(b"%PDF-")


def attachment_name(run_id: str) -> str:
    """The name the signed certificate of ``run_id`` is embedded under."""
    return f"lethe-certificate-{latin1(run_id).replace('?', '_')}.json"


def latin1(text: str) -> str:
    """``text`` in the characters the core font has: Latin-1 kept, other letters folded to
    their base letter where Unicode decomposes them, anything else ``?``."""
    out: list[str] = []
    for char in str(text).translate(_PUNCTUATION):
        if ord(char) < 256:
            out.append(char if char.isprintable() or char in "\n" else "?")
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


def _issued(doc: Mapping[str, Any]) -> datetime:
    try:
        return datetime.strptime(str(doc.get("issued_at")), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def render_certificate(document: bytes) -> bytes:
    """The PDF of a ``lethe.certificate`` document (its exact bytes, as issued), with those
    bytes embedded as the attachment :func:`attachment_name` names."""
    doc = json.loads(document.decode("ascii"))
    body: Mapping[str, Any] = doc["body"]
    issued = _issued(doc)
    pdf = _pages(str(body.get("run_id", "")))
    pdf.set_creation_date(issued)
    pdf.set_title(latin1(f"Deletion certificate, run {body.get('run_id')}"))
    pdf.set_author(latin1(str(body.get("organisation") or "")))
    pdf.set_creator(latin1(f"lethe {body.get('tool', {}).get('version', '')}"))
    pdf.set_subject("Certificate of data deletion (NIST SP 800-88 style)")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    _Layout(pdf, doc, document).write()
    name = attachment_name(str(body.get("run_id", "")))
    pdf.embed_file(
        bytes=document,
        basename=name,
        mime_type="application/json",
        modification_date=issued,
        creation_date=issued,
        desc="The signed lethe.certificate document these pages render "
        "(verify: lethe evidence verify FILE)",
    )
    out = pdf.output()
    assert isinstance(out, bytearray | bytes)
    return bytes(out)


def embedded_document(pdf: bytes, where: str) -> tuple[str, bytes]:
    """The one lethe document embedded in ``pdf``: its attachment name and exact bytes.

    Raises :class:`~lethe.errors.AuditIntegrityError` (one line naming ``where``) for a file
    pypdf cannot read, or one that embeds no file or more than one: which of two embedded
    documents the pages render cannot be told, so neither is taken.
    """
    from pypdf import PdfReader

    try:
        files = [
            (name, bytes(content))
            for name, contents in PdfReader(io.BytesIO(pdf)).attachments.items()
            for content in contents
        ]
    except Exception as exc:  # pypdf raises many kinds of error on a damaged file
        raise AuditIntegrityError(
            f"{where}: not a readable PDF ({type(exc).__name__}: {str(exc)[:80]})"
        ) from None
    if len(files) != 1:
        names = ", ".join(name for name, _ in files) or "none"
        raise AuditIntegrityError(
            f"{where}: a certificate PDF embeds exactly one lethe document; "
            f"this one embeds {len(files)} ({names})"
        )
    return files[0]


def _pages(run_id: str) -> FPDF:
    """An A4 FPDF whose footer names the run and the page (fpdf2 imported here, when used)."""
    from fpdf import FPDF

    class Pages(FPDF):
        def footer(self) -> None:
            self.set_y(-13)
            self.set_font(_FONT, size=7)
            self.set_text_color(90)
            note = (
                f"lethe deletion certificate, run {run_id} - page {self.page_no()} of {{nb}} - "
                "these pages render the embedded signed file; lethe evidence verify checks it"
            )
            self.cell(0, 4, latin1(note), align="C")

    return Pages(format="A4", unit="mm")


class _Layout:
    """The sections of the certificate, written one after the other."""

    def __init__(self, pdf: FPDF, doc: Mapping[str, Any], document: bytes) -> None:
        self.pdf, self.doc, self.document = pdf, doc, document
        self.body: Mapping[str, Any] = doc["body"]
        self.folded = False

    def text(self, value: Any) -> str:
        if value is None or value == "":
            return "-"
        plain = str(value)
        folded = latin1(plain)
        self.folded |= folded != plain
        return folded

    def write(self) -> None:
        self.title()
        self.section("Organisation and system")
        self.pairs(
            [
                ("Organisation", self.body.get("organisation") or "(not set: [evidence])"),
                ("System", self.body.get("system") or "(not set: [evidence])"),
            ]
        )
        self.section("Run")
        tool = self.body.get("tool", {})
        self.pairs(
            [
                ("Run id", self.body.get("run_id")),
                ("Status", self.body.get("status")),
                ("Started", self.body.get("started_at")),
                ("Completed", self.body.get("completed_at")),
                ("Tool and version", f"{tool.get('name')} {tool.get('version')}"),
                ("Certificate issued", self.doc.get("issued_at")),
            ]
        )
        self.policies()
        self.stores()
        self.phases()
        self.counts()
        self.holds()
        self.errors()
        self.verification()
        self.signature()
        self.embedded()

    def title(self) -> None:
        pdf = self.pdf
        pdf.set_font(_FONT, "B", 17)
        pdf.cell(0, 9, "Certificate of Data Deletion", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FONT, size=9)
        pdf.set_text_color(70)
        pdf.cell(
            0,
            5,
            "One lethe run, recorded after NIST SP 800-88 Rev. 1's certificate of sanitization",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0)
        pdf.ln(2)
        if self.body.get("dry_run"):
            pdf.set_fill_color(255, 225, 200)
            pdf.set_font(_FONT, "B", 11)
            pdf.multi_cell(0, 7, self.text(self.body.get("statement")), fill=True, align="C")
        else:
            pdf.set_font(_FONT, "B", 10)
            pdf.multi_cell(0, 6, self.text(self.body.get("statement")), align="L")
        pdf.ln(1)

    def section(self, heading: str) -> None:
        pdf = self.pdf
        if pdf.will_page_break(20):
            pdf.add_page()
        pdf.ln(2)
        pdf.set_font(_FONT, "B", 11)
        pdf.set_draw_color(150)
        pdf.cell(0, 6, heading, border="B", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def pairs(self, rows: Iterable[tuple[str, Any]], mono: Sequence[str] = ()) -> None:
        from fpdf.enums import MethodReturnValue

        pdf = self.pdf
        for label, value in rows:
            text = self.text(value)
            font = (_MONO if label in mono else _FONT, "", 8.5)
            pdf.set_font(*font)
            height = pdf.multi_cell(
                _PAGE_WIDTH - 45, 4.6, text, dry_run=True, output=MethodReturnValue.HEIGHT
            )
            assert isinstance(height, float | int)
            if pdf.will_page_break(height):  # label and value start on one page
                pdf.add_page()
            top, page = pdf.get_y(), pdf.page
            pdf.set_font(_FONT, "B", 8.5)
            pdf.multi_cell(45, 4.6, label, align="L")
            below_label = pdf.get_y()
            pdf.set_xy(60, top)
            pdf.set_font(*font)
            pdf.multi_cell(_PAGE_WIDTH - 45, 4.6, text, align="L")
            # A value longer than a page ends on a later one, below where its label was.
            if pdf.page == page:
                pdf.set_y(max(pdf.get_y(), below_label))

    def table(
        self, headings: Sequence[str], widths: Sequence[float], rows: Iterable[Sequence[Any]]
    ) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        pdf.set_font(_FONT, size=7.5)
        with pdf.table(
            col_widths=tuple(widths),
            width=sum(widths),
            align="LEFT",
            text_align="LEFT",
            line_height=3.8,
            headings_style=FontFace(emphasis="BOLD", fill_color=(228, 228, 228)),
            repeat_headings=1,
            padding=0.8,
        ) as table:
            head = table.row()
            for heading in headings:
                head.cell(heading)
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(self.text(value))
        pdf.ln(1)

    def policies(self) -> None:
        policy = self.body.get("policy", {})
        at_run, at_issue = policy.get("fingerprint_at_run"), policy.get("fingerprint_at_issue")
        self.section("Policies")
        self.pairs(
            [
                ("Policies run", ", ".join(policy.get("policies", [])) or "-"),
                ("Fingerprint at run", at_run),
                (
                    "Fingerprint at issue",
                    at_issue if at_issue == at_run else f"{at_issue} (CHANGED since the run)",
                ),
            ],
            mono=("Fingerprint at run", "Fingerprint at issue"),
        )

    def stores(self) -> None:
        self.section("What and where: data categories and stores")
        self.pairs([("Data categories", ", ".join(self.body.get("data_categories", [])) or "-")])
        stores = self.body.get("stores", [])
        if stores:
            self.pdf.ln(1)
            self.table(
                ("Store", "Where (no credentials)", "Methods used"),
                (30, 70, 80),
                ((s.get("name"), s.get("where"), ", ".join(s.get("methods", []))) for s in stores),
            )

    def phases(self) -> None:
        self.section("Method per phase")
        rows = []
        for p in self.body.get("phases", []):
            cascade = ", ".join(f"{t} {n}" for t, n in sorted(p.get("cascade", {}).items()))
            target = f"{p.get('target')}" + (f"; cascaded: {cascade}" if cascade else "")
            rows.append(
                (
                    f"{p.get('policy')} / {p.get('dataset')}",
                    p.get("phase"),
                    p.get("method"),
                    target,
                    *(str(p.get(n, 0)) for n in _PHASE_COUNT_COLUMNS),
                )
            )
        headings = "Policy / dataset|Ph.|Method|Target|Acted|Held|Blocked|Capped|Failed|Unread."
        self.table(
            headings.split("|"), (28, 7, 30, 45, 11, 10, 13, 13, 11, 12), rows or [("-",) * 10]
        )

    def counts(self) -> None:
        self.section("Counts per table, prefix or pattern and action")
        counts = self.body.get("counts", [])
        totals = self.body.get("totals", {})
        rows: list[Sequence[Any]] = [
            (c.get("target"), c.get("action"), c.get("rows")) for c in counts
        ]
        rows.append(("Total", "all actions", totals.get("rows")))
        self.table(("Table, prefix or pattern", "Action", "Rows / items"), (110, 40, 30), rows)
        self.pairs(
            [
                ("Items acted on", totals.get("items_acted")),
                ("Items held", totals.get("items_held")),
            ]
        )

    def holds(self) -> None:
        self.section("Holds checked")
        rows = []
        for h in self.body.get("holds", []):
            table = h.get("table") or {}
            app = (
                f"{table.get('table')}.{table.get('column')}"
                + (
                    f" (released: {table['released_column']})"
                    if table.get("released_column")
                    else ""
                )
                if table
                else "none"
            )
            rows.append((h.get("dataset"), h.get("registry"), app))
        self.table(
            ("Dataset", "Registry", "Application hold table"), (40, 50, 90), rows or [("-",) * 3]
        )

    def errors(self) -> None:
        self.section("Errors")
        errors = self.body.get("errors", [])
        self.pdf.set_font(_FONT, size=8.5)
        for error in errors or ["None."]:
            self.pdf.multi_cell(0, 4.6, self.text(error), align="L")

    def verification(self) -> None:
        v = self.body.get("verification", {})
        head = v.get("run_head") or {}
        self.section("Verification performed after the run")
        chain = (
            f"intact: {v.get('audit_events')} events recomputed, no problem"
            if v.get("audit_chain_ok")
            else f"BROKEN: {v.get('audit_problems')} problems in {v.get('audit_events')} events"
        )
        signature = (
            f"signed, key id {head.get('key_id')}" if head.get("signature") else "not signed"
        )
        overdue = v.get("overdue") or {}
        self.pairs(
            [
                ("Audit chain at issue", chain),
                ("Chain head", v.get("audit_head")),
                (
                    "Run's head entry",
                    f"entry {head.get('entry')}, seq {head.get('seq')}" if head else "none",
                ),
                ("Run's head hash", head.get("hash")),
                ("Head entry signature", signature if head else "-"),
                (
                    "Overdue at issue",
                    f"{overdue.get('total')} items (as of {overdue.get('as_of')})",
                ),
                ("Policies not attested", ", ".join(overdue.get("not_attested", [])) or "none"),
                ("Run head anchored", _anchored(v.get("anchors", []))),
            ],
            mono=("Chain head", "Run's head hash"),
        )
        phases = overdue.get("phases", [])
        if phases:
            self.pdf.ln(1)
            self.table(
                ("Policy / dataset", "Phase", "Action", "Tolerance", "Overdue", "Held"),
                (60, 14, 30, 36, 20, 20),
                (
                    (
                        f"{p.get('policy')} / {p.get('dataset')}",
                        p.get("phase"),
                        p.get("action"),
                        p.get("tolerance"),
                        p.get("overdue"),
                        p.get("held"),
                    )
                    for p in phases
                ),
            )

    def signature(self) -> None:
        signature = self.doc.get("signature")
        self.section("Signature of this certificate")
        if not signature:
            self.pairs(
                [
                    (
                        "Signature",
                        "UNSIGNED: no [evidence] signing key was set; the embedded certificate "
                        "is checked for its form only, an edit can go unnoticed",
                    )
                ]
            )
            return
        self.pairs(
            [
                ("Algorithm", signature.get("alg")),
                ("Key id", signature.get("key_id")),
                ("Public key", signature.get("public_key")),
            ],
            mono=("Key id", "Public key"),
        )

    def embedded(self) -> None:
        body, pdf = self.body, self.pdf
        self.section("The evidence in this file")
        notes = [
            f"The signed certificate is embedded in this PDF as the file "
            f"{attachment_name(str(body.get('run_id', '')))} "
            f"(SHA-256 {hashlib.sha256(self.document).hexdigest()}). These "
            "pages are a rendering of it. `lethe evidence verify THIS.pdf` takes that file out "
            "and checks its exact bytes, its signature and its totals offline: its verdict "
            "covers the embedded file, not the text on these pages.",
        ]
        if self.folded:
            notes.append(
                "Some characters outside Latin-1 are shown here folded to their base letter or "
                "as '?'; the embedded file holds the exact text."
            )
        pdf.set_font(_FONT, size=8.5)
        for note in notes:
            pdf.multi_cell(0, 4.6, note, align="L")
            pdf.ln(1)


_PHASE_COUNT_COLUMNS = ("acted", "held", "blocked", "capped", "failed", "unreadable")


def _anchored(anchors: list[dict[str, Any]]) -> str:
    if not anchors:
        return "no anchor configured"
    return "; ".join(
        f"{a.get('name')} ({a.get('type')}): {a.get('status')}"
        + (f" at {a['published_at']}" if a.get("published_at") else "")
        for a in anchors
    )
