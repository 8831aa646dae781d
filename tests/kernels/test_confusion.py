"""confusion_counts against numpy: the four counts at each threshold, added to what is there."""
import numpy as np
import pytest

from numbanet.kernels.cpu import confusion


def reference(pred, targets, thresholds):
    positive = targets.reshape(-1) >= 0.5
    above = pred.reshape(-1)[None, :] > thresholds[:, None]
    return np.stack([(above & positive).sum(1), (above & ~positive).sum(1),
                     (~above & ~positive).sum(1), (~above & positive).sum(1)], 1).astype(np.float64)


@pytest.mark.parametrize('shape', [(7, 13), (1, 5), (33, 3), (1, 1)])
def test_counts(rng, shape):
    pred = rng.random(shape).astype(np.float32)
    targets = rng.random(shape).astype(np.float32)  # soft targets: positive from 0.5 up
    targets.reshape(-1)[-1] = 0.5  # exactly 0.5 is positive
    eps = 1e-7
    thresholds = np.array([0 - eps] + [(i + 1) / 199 for i in range(198)] + [1 + eps], np.float32)  # Keras's AUC
    counts = np.full((200, 4), 3.0)
    confusion.confusion_counts(counts, pred, targets, thresholds)
    want = reference(pred, targets, thresholds)
    np.testing.assert_array_equal(counts, want + 3)  # added to
    np.testing.assert_array_equal(counts.sum(1), pred.size + 12)
    confusion.confusion_counts(counts, pred, targets, thresholds)
    np.testing.assert_array_equal(counts, 2 * want + 3)


def test_one_threshold_and_ties():
    pred = np.array([[0.5, 0.7, 0.2], [0.9, 0.5, 0.1]], np.float32)
    targets = np.array([[1, 1, 0], [0, 0, 1]], np.float32)
    counts = np.zeros((1, 4))
    confusion.confusion_counts(counts, pred, targets, np.array([0.5], np.float32))
    # pred == threshold is not above it: [0.5 -> fn, 0.7 tp, 0.2 tn], [0.9 fp, 0.5 tn, 0.1 fn]
    np.testing.assert_array_equal(counts, [[1, 1, 2, 2]])


def test_no_thresholds_and_nan(rng):
    pred = np.array([[np.nan, 1.0]], np.float32)
    targets = np.array([[1.0, 1.0]], np.float32)
    counts = np.zeros((1, 4))
    confusion.confusion_counts(counts, pred, targets, np.array([0.5], np.float32))
    np.testing.assert_array_equal(counts, [[1, 0, 0, 1]])  # NaN is never above: a false negative
    empty = np.zeros((0, 4))
    confusion.confusion_counts(empty, pred, targets, np.zeros(0, np.float32))
