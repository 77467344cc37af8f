"""Every kind of document lethe issues, imported so that each registers its checks with
:func:`lethe.evidence.documents.register` before a document is verified. A new kind adds its
module here."""

from __future__ import annotations

from lethe.evidence import (
    attest,  # noqa: F401  (lethe.attestation)
    certificate,  # noqa: F401  (lethe.certificate)
    receipt,  # noqa: F401  (lethe.receipt)
)

__all__: list[str] = []
