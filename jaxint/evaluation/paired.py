"""Paired comparisons of two models evaluated on the same problems with the same seeds.

Both models' rewards come as ``[P, n]`` arrays (problem x sample index) whose entry ``(i, j)``
was sampled with the same seed for both (`jaxint eval` seeds by shard and position), so the
difference of the two means is estimated from the per-pair differences, and its standard
error is that of a mean of paired differences: ``std(d) / sqrt(len(d))`` with ``d`` the
``P * n`` differences. Pairing removes the variance that both models share (easy and hard
problems), which an unpaired comparison of two accuracies would count twice.

``clustered_se`` is the more conservative figure: it treats the P problems, not the P * n
samples, as the independent units (per-problem mean differences), so correlation between the
samples of one problem cannot shrink it.
"""

from __future__ import annotations

import numpy as np


def _differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired rewards must be two [P, n] arrays of one shape, got "
                         f"{a.shape} and {b.shape}")
    return a - b


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of ``a - b`` over all problem x sample pairs (NaN when there are none)."""
    d = _differences(a, b)
    return float(d.mean()) if d.size else float("nan")


def paired_se(a: np.ndarray, b: np.ndarray) -> float:
    """Standard error of :func:`mean_difference`, pairs (problem x sample) as the units."""
    d = _differences(a, b).ravel()
    if d.size < 2:
        return float("nan")
    return float(d.std(ddof=1) / np.sqrt(d.size))


def clustered_se(a: np.ndarray, b: np.ndarray) -> float:
    """Standard error of :func:`mean_difference` with problems as the units."""
    d = _differences(a, b).mean(axis=1)
    if d.size < 2:
        return float("nan")
    return float(d.std(ddof=1) / np.sqrt(d.size))
