"""Counts for the accuracy metrics on the GPU: per-row results, then the deterministic device sum.
Twin of kernels/cpu/accuracy.py."""
import math

import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit(device=True, inline='always')
def _argmax_row(x, b):
    best = 0
    for c in range(1, x.shape[1]):
        if x[b, c] > x[b, best]:
            best = c
    return best


@cuda.jit
def _categorical(hits, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        hits[b] = 1.0 if _argmax_row(pred, b) == _argmax_row(targets, b) else 0.0


@cuda.jit
def _sparse(hits, pred, labels):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        hits[b] = 1.0 if _argmax_row(pred, b) == labels[b] else 0.0


@cuda.jit
def _binary(hits, pred, targets, threshold):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        n = 0.0
        for c in range(pred.shape[1]):
            if (pred[b, c] > threshold) == (targets[b, c] > 0.5):
                n += 1.0
        hits[b] = n


@cuda.jit
def _errors(abs_rows, sq_rows, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        a = 0.0
        s = 0.0
        for c in range(pred.shape[1]):
            d = float(pred[b, c]) - float(targets[b, c])
            a += abs(d)
            s += d * d
        abs_rows[b] = a
        sq_rows[b] = s


def _rows(name, n):
    return scratch(name, n, np.float64)


def categorical_accuracy_count(pred, targets):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _categorical[blocks(B), THREADS](hits, pred, targets)
    return int(round(device_sum(hits, B)))


def sparse_categorical_accuracy_count(pred, labels):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _sparse[blocks(B), THREADS](hits, pred, labels)
    return int(round(device_sum(hits, B)))


def binary_accuracy_count(pred, targets, threshold):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _binary[blocks(B), THREADS](hits, pred, targets, threshold)
    return int(round(device_sum(hits, B)))


def error_sums(pred, targets):
    B = pred.shape[0]
    abs_rows, sq_rows = _rows('abs_rows', B), _rows('sq_rows', B)
    _errors[blocks(B), THREADS](abs_rows, sq_rows, pred, targets)
    return device_sum(abs_rows, B), device_sum(sq_rows, B)


@cuda.jit(device=True, inline='always')
def _in_top_k(pred, b, true_class, k):
    # Keras's in_top_k: in when fewer than k classes score strictly higher (ties at the boundary are in);
    # a label outside [0, C) or a non-finite score of the true class is out.
    if true_class < 0 or true_class >= pred.shape[1]:
        return False
    p = pred[b, true_class]
    if not math.isfinite(p):
        return False
    higher = 0
    for c in range(pred.shape[1]):
        if pred[b, c] > p:
            higher += 1
    return higher < k


@cuda.jit
def _top_k(hits, pred, targets, k):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        hits[b] = 1.0 if _in_top_k(pred, b, _argmax_row(targets, b), k) else 0.0


@cuda.jit
def _sparse_top_k(hits, pred, labels, k):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        hits[b] = 1.0 if _in_top_k(pred, b, labels[b], k) else 0.0


def top_k_categorical_count(pred, targets, k):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _top_k[blocks(B), THREADS](hits, pred, targets, int(k))
    return device_sum(hits, B)


def sparse_top_k_categorical_count(pred, labels, k):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _sparse_top_k[blocks(B), THREADS](hits, pred, labels, int(k))
    return device_sum(hits, B)
