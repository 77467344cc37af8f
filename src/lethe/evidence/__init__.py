"""Evidence for people outside lethe: signatures, signed documents (certificates, receipts,
attestations), exports and records of processing (docs/evidence.md)."""
