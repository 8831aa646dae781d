"""Binary cross-entropy from the logits, mean over the last axis, then over the batch (Keras's reduction).

Per element, with z the logit and y the target, loss = max(z, 0) - z y + log1p(exp(-|z|)): the same value as
-y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)), but exp never sees a positive argument, so it is finite for
any finite logit, where sigmoid-then-log takes log(0) from |z| of about 17 in float32 (37 in float64).
The gradient of the mean loss with respect to z is (sigmoid(z) - y) / (B C). Sums are float64, in a fixed order.
"""
import math

from numba import float64

from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy')
def _bce(z, y):
    # One element's loss, z and y as float64.
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


@njit(cache=True, error_model='numpy')
def _sigmoid(z):
    # exp of a non-positive argument only: no overflow for any z.
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, error_model='numpy')
def binary_crossentropy_fused(dlogits, logits, targets, weights=None):
    # dlogits, logits, targets: (B, C); weights: None or (B,). Training's one pass: returns the summed
    # per-sample losses (each a mean over C, times its weight when weights are given) and overwrites dlogits
    # with the gradient of the unweighted mean loss, (sigmoid(z) - y) / (B C).
    B, C = logits.shape
    scale = 1.0 / (B * C)
    total = 0.0
    for b in range(B):
        row = 0.0
        for c in range(C):
            z, y = float64(logits[b, c]), float64(targets[b, c])
            row += _bce(z, y)
            dlogits[b, c] = (_sigmoid(z) - y) * scale
        row /= C
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def binary_crossentropy_forward(probs, logits, targets, weights=None):
    # probs, logits, targets: (B, C); weights: None or (B,). Evaluation's kernel: writes sigmoid(logits) into
    # probs and returns the summed per-sample losses, the same value binary_crossentropy_fused returns.
    B, C = logits.shape
    total = 0.0
    for b in range(B):
        row = 0.0
        for c in range(C):
            z, y = float64(logits[b, c]), float64(targets[b, c])
            row += _bce(z, y)
            probs[b, c] = _sigmoid(z)
        row /= C
        if weights is not None:
            row *= weights[b]
        total += row
    return total
