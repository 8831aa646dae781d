"""Confusion counts at thresholds: what Precision, Recall (one threshold, 0.5) and AUC (many) accumulate.
A cell is predicted positive when pred > threshold and is truly positive when target >= 0.5. The counts
are integers (exact in float64 below 2**53), so no order of summation changes them.
"""
from numbanet.kernels.cpu._jit import njit


@njit(cache=True)
def confusion_counts(counts, pred, targets, thresholds):
    # counts: (T, 4) float64, added to with [true pos, false pos, true neg, false neg] at each threshold over
    # every cell of pred, targets (B, C), both C-contiguous; thresholds: (T,) float32.
    n = pred.size
    p, y = pred.reshape(n), targets.reshape(n)  # one flat loop per threshold vectorizes; rows of C do not
    positives = 0
    for i in range(n):
        positives += y[i] >= 0.5
    for t in range(thresholds.shape[0]):
        th = thresholds[t]
        above = 0
        tp = 0
        for i in range(n):
            hit = p[i] > th
            above += hit
            tp += hit & (y[i] >= 0.5)
        counts[t, 0] += tp
        counts[t, 1] += above - tp
        counts[t, 2] += n - positives - (above - tp)
        counts[t, 3] += positives - tp
