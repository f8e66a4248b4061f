"""Content-addressed blob storage (containerd ``content``).

Blobs live at ``root/sha256/<hex>``; writes go through ``root/ingest`` and are verified,
fsynced and renamed into place, so a blob that exists is always complete and correct. Operations in progress hold leases
(``store.leased()``) and ``collect(roots)`` deletes what neither a root nor a lease names.
"""

from __future__ import annotations

from kobako.content._lease import Lease
from kobako.content._protocol import ContentStore
from kobako.content._store import GcResult, LocalContentStore
from kobako.content._writer import ContentWriter

__all__ = ["ContentStore", "ContentWriter", "GcResult", "Lease", "LocalContentStore"]
