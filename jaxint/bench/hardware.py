"""Peak figures of accelerators, for roofline and MFU ratios.

Sources: NVIDIA H100 SXM and H200 datasheets (dense bf16 tensor FLOP/s without sparsity,
HBM3/HBM3e bandwidth); Google Cloud TPU system-architecture pages (per chip).
"""

from __future__ import annotations

import jax

# device_kind substring -> (peak bf16 FLOP/s, HBM bytes/s)
PEAKS = {
    "H100": (989e12, 3.35e12),
    "H200": (989e12, 4.8e12),
    "A100": (312e12, 2.0e12),
    "TPU v5 lite": (197e12, 819e9),
    "TPU v5p": (459e12, 2765e9),
    "TPU v5": (459e12, 2765e9),
    "TPU v4": (275e12, 1228e9),
    "TPU v6 lite": (918e12, 1640e9),
}


def peaks() -> tuple[float, float] | None:
    """(FLOP/s, bytes/s) of the first device, or None when unknown (e.g. CPU)."""
    kind = getattr(jax.devices()[0], "device_kind", "")
    for key, value in PEAKS.items():
        if key in kind:
            return value
    return None
