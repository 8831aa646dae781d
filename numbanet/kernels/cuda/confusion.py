"""Confusion counts at thresholds on the GPU. Twin of kernels/cpu/confusion.py: one thread per (row,
threshold) counts its row's cells, then one thread per (threshold, count) adds the rows in order. The
counts are integers, so they match the CPU's exactly.
"""
import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, scratch


@cuda.jit
def _row_counts(partial, pred, targets, thresholds):
    # Thread i = b * T + t: neighbouring threads read the same row. partial[4 i:4 i + 4] = tp, fp, tn, fn.
    i = cuda.grid(1)
    B, C = pred.shape
    T = thresholds.shape[0]
    if i < B * T:
        b, t = i // T, i % T
        th = thresholds[t]
        tp = fp = tn = fn = 0
        for c in range(C):
            positive = targets[b, c] >= 0.5
            if pred[b, c] > th:
                if positive:
                    tp += 1
                else:
                    fp += 1
            elif positive:
                fn += 1
            else:
                tn += 1
        partial[4 * i] = tp
        partial[4 * i + 1] = fp
        partial[4 * i + 2] = tn
        partial[4 * i + 3] = fn


@cuda.jit
def _sum_rows(counts, partial, rows):
    # Thread j = 4 t + k adds count k of threshold t over the rows, in order.
    j = cuda.grid(1)
    T = counts.shape[0]
    if j < 4 * T:
        s = 0.0
        for b in range(rows):
            s += partial[4 * T * b + j]
        counts[j // 4, j % 4] += s


def confusion_counts(counts, pred, targets, thresholds):
    # counts: (T, 4) float64, added to with [true pos, false pos, true neg, false neg] at each threshold over
    # every cell of pred, targets (B, C); thresholds: (T,) float32.
    B, T = pred.shape[0], thresholds.shape[0]
    partial = scratch('confusion_rows', 4 * B * T, np.int32)
    _row_counts[blocks(B * T), THREADS](partial, pred, targets, thresholds)
    _sum_rows[blocks(4 * T), THREADS](counts, partial, B)
