"""Binary cross-entropy from the logits on the GPU: one thread per row writes its loss (a mean over C) to a
scratch row, and the deterministic device sum adds them. Twin of kernels/cpu/binary_crossentropy.py (the
formulas and why they are stable are there)."""
import math

import numpy as np
from numba import cuda, float64

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit(device=True, inline='always')
def _bce(z, y):
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


@cuda.jit(device=True, inline='always')
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@cuda.jit
def _fused(losses, dlogits, logits, targets):
    b = cuda.grid(1)
    B = logits.shape[0]
    C = logits.shape[1]
    if b < B:
        scale = 1.0 / (B * C)
        row = 0.0
        for c in range(C):
            z, y = float64(logits[b, c]), float64(targets[b, c])
            row += _bce(z, y)
            dlogits[b, c] = (_sigmoid(z) - y) * scale
        losses[b] = row / C


@cuda.jit
def _forward(losses, probs, logits, targets):
    b = cuda.grid(1)
    C = logits.shape[1]
    if b < logits.shape[0]:
        row = 0.0
        for c in range(C):
            z, y = float64(logits[b, c]), float64(targets[b, c])
            row += _bce(z, y)
            probs[b, c] = _sigmoid(z)
        losses[b] = row / C


def binary_crossentropy_fused(dlogits, logits, targets, weights=None):
    B = logits.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _fused[blocks(B), THREADS](losses, dlogits, logits, targets)
    return device_sum(losses, B, weights)


def binary_crossentropy_forward(probs, logits, targets, weights=None):
    B = logits.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, probs, logits, targets)
    return device_sum(losses, B, weights)
