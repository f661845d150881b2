"""Seeds derived from a base seed and labels, so that results do not depend on resumption.

Every sampling call of a stage gets ``derive(base, shard_index, purpose)``: rerunning one
shard after a crash draws exactly what the uninterrupted run drew.
"""

from __future__ import annotations

import hashlib


def derive(base: int, *labels: object) -> int:
    """A 31-bit seed that depends only on ``base`` and ``labels`` (stable across runs)."""
    text = ":".join(str(part) for part in (base, *labels))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF
