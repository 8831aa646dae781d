"""The accuracy and top-k counts and the error sums against numpy."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from numbanet.kernels.cpu import accuracy


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


def reference_in_top_k(pred, labels, k):
    """Keras's in_top_k in numpy: the true class is in when fewer than k classes score strictly higher;
    a non-finite score of the true class or a label out of range is out."""
    hits = 0
    for row, label in zip(pred.astype(np.float64), labels):
        if 0 <= label < row.size and np.isfinite(row[label]) and (row > row[label]).sum() < k:
            hits += 1
    return float(hits)


@pytest.mark.parametrize('shape', [(7, 13), (1, 5), (33, 3), (12, 1)])
@pytest.mark.parametrize('top', [1, 2, 5, 20])
def test_top_k_counts(rng, shape, top):
    B, C = shape
    pred = rng.standard_normal(shape).astype(np.float32)
    pred[0, :] = pred[0, 0]  # a row of ties: every class is in the top k
    labels = rng.integers(0, C, B)
    targets = np.eye(C, dtype=np.float32)[labels]
    want = reference_in_top_k(pred, labels, top)
    got = accuracy.sparse_top_k_categorical_count(pred, labels, top)
    assert isinstance(got, float) and got == want
    assert accuracy.top_k_categorical_count(pred, targets, top) == want


def test_top_k_edge_cases():
    pred = np.array([[0.1, 0.5, 0.5, 0.2],
                     [np.nan, 0.5, 0.2, 0.1],
                     [0.1, 0.5, np.inf, 0.2],
                     [0.3, 0.2, 0.1, 0.0]], np.float32)
    labels = np.array([2, 0, 2, 7])
    # tie at the top counts for k=1; a NaN or infinite true score is out; a label out of range is out
    assert accuracy.sparse_top_k_categorical_count(pred, labels, 1) == 1.0
    assert accuracy.sparse_top_k_categorical_count(pred[:1], np.array([3]), 2) == 0.0  # two classes above
    assert accuracy.sparse_top_k_categorical_count(pred[:1], np.array([3]), 3) == 1.0
    # soft targets: the argmax of the target row is the true class
    targets = np.array([[0.1, 0.2, 0.6, 0.1]], np.float32)
    assert accuracy.top_k_categorical_count(pred[:1], targets, 1) == 1.0
