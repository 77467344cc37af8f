"""Blob storage as a lethe store: local directories, S3 (and S3-compatible), GCS and Azure.

One library, `obstore <https://developmentseed.org/obstore/>`_, serves every backend with
the same calls: streamed, paged listing; S3 DeleteObjects with 1,000 keys per request (Azure's
blob batch, concurrent deletes elsewhere); and no Python dependencies of its own.
"""

from lethe.stores.blob.dataset import BlobDataset
from lethe.stores.blob.store import BlobStore

__all__ = ["BlobDataset", "BlobStore"]
