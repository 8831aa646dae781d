"""Softmax + cross-entropy on the GPU: one thread per row writes its loss to a scratch row, and a
deterministic one-block reduction sums them (no float atomics). Twin of kernels/cpu/softmax_crossentropy.py;
labels outside [0, C) were refused on the host, and here are skipped rather than read out of bounds."""
import math

import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit(device=True, inline='always')
def _max_and_sum(logits, b):
    C = logits.shape[1]
    m = logits[b, 0]
    for c in range(1, C):
        m = max(m, logits[b, c])
    s = 0.0
    for c in range(C):
        s += math.exp(logits[b, c] - m)
    return m, s


@cuda.jit
def _forward(losses, probs, logits, targets):
    b = cuda.grid(1)
    if b < logits.shape[0]:
        m, s = _max_and_sum(logits, b)
        lse = m + math.log(s)
        total = 0.0
        for c in range(logits.shape[1]):
            probs[b, c] = math.exp(logits[b, c] - m) / s
            total += targets[b, c] * (lse - logits[b, c])
        losses[b] = total


@cuda.jit
def _backward(dlogits, probs, targets):
    b = cuda.grid(1)
    B = probs.shape[0]
    if b < B:
        ysum = 0.0
        for c in range(probs.shape[1]):
            ysum += targets[b, c]
        for c in range(probs.shape[1]):
            dlogits[b, c] = (ysum * probs[b, c] - targets[b, c]) / B


@cuda.jit
def _fused(losses, dlogits, logits, targets):
    b = cuda.grid(1)
    B = logits.shape[0]
    if b < B:
        m, s = _max_and_sum(logits, b)
        lse = m + math.log(s)
        ysum = 0.0
        total = 0.0
        for c in range(logits.shape[1]):
            ysum += targets[b, c]
            total += targets[b, c] * (lse - logits[b, c])
        for c in range(logits.shape[1]):
            dlogits[b, c] = (ysum * (math.exp(logits[b, c] - m) / s) - targets[b, c]) / B
        losses[b] = total


@cuda.jit
def _sparse_forward(losses, probs, logits, labels):
    b = cuda.grid(1)
    C = logits.shape[1]
    if b < logits.shape[0]:
        label = labels[b]
        m, s = _max_and_sum(logits, b)
        for c in range(C):
            probs[b, c] = math.exp(logits[b, c] - m) / s
        losses[b] = m + math.log(s) - logits[b, label] if 0 <= label < C else math.nan


@cuda.jit
def _sparse_backward(dlogits, probs, labels):
    b = cuda.grid(1)
    B = probs.shape[0]
    C = probs.shape[1]
    if b < B:
        for c in range(C):
            dlogits[b, c] = probs[b, c] / B
        label = labels[b]
        if 0 <= label < C:
            dlogits[b, label] -= 1.0 / B


@cuda.jit
def _sparse_fused(losses, dlogits, logits, labels):
    b = cuda.grid(1)
    B = logits.shape[0]
    C = logits.shape[1]
    if b < B:
        label = labels[b]
        m, s = _max_and_sum(logits, b)
        for c in range(C):
            dlogits[b, c] = math.exp(logits[b, c] - m) / s / B
        if 0 <= label < C:
            dlogits[b, label] -= 1.0 / B
            losses[b] = m + math.log(s) - logits[b, label]
        else:
            losses[b] = math.nan


def _losses(n):
    return scratch('row_losses', n, np.float64)


def softmax_crossentropy_forward(probs, logits, targets, weights=None):
    B = logits.shape[0]
    losses = _losses(B)
    _forward[blocks(B), THREADS](losses, probs, logits, targets)
    return device_sum(losses, B, weights)


def softmax_crossentropy_backward(dlogits, probs, targets):
    _backward[blocks(probs.shape[0]), THREADS](dlogits, probs, targets)


def softmax_crossentropy_fused(dlogits, logits, targets, weights=None):
    B = logits.shape[0]
    losses = _losses(B)
    _fused[blocks(B), THREADS](losses, dlogits, logits, targets)
    return device_sum(losses, B, weights)


def sparse_softmax_crossentropy_forward(probs, logits, labels, weights=None):
    B = logits.shape[0]
    losses = _losses(B)
    _sparse_forward[blocks(B), THREADS](losses, probs, logits, labels)
    return device_sum(losses, B, weights)


def sparse_softmax_crossentropy_backward(dlogits, probs, labels):
    _sparse_backward[blocks(probs.shape[0]), THREADS](dlogits, probs, labels)


def sparse_softmax_crossentropy_fused(dlogits, logits, labels, weights=None):
    B = logits.shape[0]
    losses = _losses(B)
    _sparse_fused[blocks(B), THREADS](losses, dlogits, logits, labels)
    return device_sum(losses, B, weights)
