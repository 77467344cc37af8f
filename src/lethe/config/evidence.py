"""``[evidence]``: what lethe's evidence for auditors says and how it is signed.

Every key has a default, so a file without ``[evidence]`` works: its documents are unsigned and
name no organisation::

    [evidence]
    organisation = "Example Health Ltd"      # who is responsible for the deletion
    system = "census (production)"           # the system whose data it is
    signing_key_env = "LETHE_SIGNING_KEY"     # or signing_key_file = "/run/secrets/lethe.key"

The signing key is an Ed25519 private key, PEM (PKCS #8, as ``openssl genpkey -algorithm
ed25519`` writes it) or the base64 of its 32-byte seed (:mod:`lethe.evidence.signing`). The
key itself never goes in the policy file: only where to read it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lethe.config.durations import Duration
from lethe.config.types import DurationField
from lethe.evidence.anchors import AnchorField

__all__ = ["EvidenceConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceConfig(_Strict):
    """``[evidence]``: the issuer of lethe's documents and the key that signs them."""

    organisation: str = Field(default="", max_length=200)
    system: str = Field(default="", max_length=200)
    signing_key_file: str | None = None
    signing_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    # Records of processing: `lethe check` reports datasets without category, purpose or
    # legal_basis, and tables no dataset covers, as errors.
    require_records: bool = False

    # Overdue attestation (`lethe attest`): how long an item may stay due and unheld before it
    # counts as overdue; unset: twice the longest gap between the slots of the policy's jobs,
    # or a day.
    overdue_tolerance: DurationField | None = None
    # Approvals (`lethe approve`): how long a refused run's recorded plan may wait for its
    # approval and its `lethe run --approved`; past it, a new run records a fresh plan.
    approval_window: DurationField = Duration(seconds=7 * 86400)

    # Anchors (docs/evidence.md "Anchors"): after every real run, each run head not yet
    # published goes to each of these append-only places; `lethe audit verify` checks them.
    anchors: list[AnchorField] = Field(default_factory=list, max_length=16)

    @field_validator("approval_window")
    @classmethod
    def _fixed_window(cls, value: Duration) -> Duration:
        if value.months or value.seconds <= 0:
            raise ValueError(f"{value} must be a positive span without months (s, m, h, d, w)")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> EvidenceConfig:
        if self.signing_key_file and self.signing_key_env:
            raise ValueError("give signing_key_file or signing_key_env, not both")
        names = [anchor.label for anchor in self.anchors]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"two anchors named {', '.join(twice)}: give each [[evidence.anchors]] a "
                "distinct name"
            )
        return self
