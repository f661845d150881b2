"""Paired differences and their standard errors against hand-computed values."""

import math

import numpy as np
import pytest

from jaxint.evaluation import paired

# 2 problems x 2 samples.
A = np.array([[1, 1], [0, 1]])
B = np.array([[0, 1], [0, 0]])
# d = [[1, 0], [0, 1]]: mean 0.5; sample std (ddof 1) of [1, 0, 0, 1] = sqrt(1/3);
# SE = sqrt(1/3) / sqrt(4) = 0.288675...
# per-problem means [0.5, 0.5]: std 0 -> clustered SE 0.


def test_paired_se_hand_computed():
    assert paired.mean_difference(A, B) == pytest.approx(0.5)
    assert paired.paired_se(A, B) == pytest.approx(math.sqrt(1 / 3) / 2)
    assert paired.clustered_se(A, B) == pytest.approx(0.0)


def test_clustered_se_hand_computed():
    a = np.array([[1, 1], [0, 0], [1, 0]])
    b = np.zeros((3, 2))
    # per-problem mean differences [1, 0, 0.5]: std (ddof 1) 0.5, SE 0.5 / sqrt(3)
    assert paired.clustered_se(a, b) == pytest.approx(0.5 / math.sqrt(3))
    # pairs [1, 1, 0, 0, 1, 0]: mean 0.5, std sqrt(0.3), SE sqrt(0.3) / sqrt(6)
    assert paired.paired_se(a, b) == pytest.approx(math.sqrt(0.3) / math.sqrt(6))


def test_pairing_removes_shared_variance():
    rng = np.random.default_rng(0)
    easy = rng.random((200, 1)) < 0.5  # problems both models solve or both fail
    a = np.repeat(easy, 4, axis=1).astype(float)
    b = a.copy()
    b[:10, 0] = 1 - b[:10, 0]  # they disagree on 10 pairs only
    unpaired = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert paired.paired_se(a, b) < unpaired / 3


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one shape"):
        paired.paired_se(np.zeros((2, 3)), np.zeros((3, 2)))
