"""The accuracy counts and error sums against numpy."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k


def test_accuracy_counts(rng):
    pred = rng.standard_normal((13, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 13)
    right = int((pred.argmax(1) == labels).sum())
    assert k.sparse_categorical_accuracy_count(pred, labels) == right
    assert k.categorical_accuracy_count(pred, np.eye(5, dtype=np.float32)[labels]) == right
    p1 = rng.random((9, 1)).astype(np.float32)
    t1 = (rng.random((9, 1)) > 0.5).astype(np.float32)
    assert k.binary_accuracy_count(p1, t1, 0.5) == int(((p1 > 0.5) == (t1 > 0.5)).sum())
    a, s = k.error_sums(pred, pred + 1)
    assert a == pytest.approx(65) and s == pytest.approx(65)
