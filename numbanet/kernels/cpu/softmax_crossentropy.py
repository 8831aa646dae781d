"""Softmax followed by cross-entropy, computed from the logits.

Working in log space (loss = logsumexp(z) - sum_j y_j z_j) keeps the loss finite for logits of any
size, where softmax-then-log would take log(0). The gradient with respect to the logits is
(sum_j y_j * p - y) / B, which is (p - y) / B for one-hot targets.
Two target forms: dense targets (B, C) (categorical) and integer labels (B,) (sparse).
All sums are float64 in a fixed order: the loss is what early stopping and NaN checks read.
The kernels that return the loss take optional per-sample weights (B,), each multiplying its row's loss in
the sum; the gradients stay unweighted: the runtime scales their rows (sample_weight.scale_rows).
"""
import math


from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy', inline='always')
def _row_max_and_sum(logits, b):
    C = logits.shape[1]
    m = logits[b, 0]
    for c in range(1, C):
        m = max(m, logits[b, c])
    s = 0.0
    for c in range(C):
        s += math.exp(logits[b, c] - m)
    return m, s


@njit(cache=True, error_model='numpy')
def softmax_crossentropy_forward(probs, logits, targets, weights=None):
    # probs, logits, targets: (B, C); weights: None or (B,). Writes probs, returns the summed (not mean) loss.
    B, C = logits.shape
    total = 0.0
    for b in range(B):
        m, s = _row_max_and_sum(logits, b)
        lse = m + math.log(s)
        row = 0.0
        for c in range(C):
            probs[b, c] = math.exp(logits[b, c] - m) / s
            row += targets[b, c] * (lse - logits[b, c])
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def softmax_crossentropy_backward(dlogits, probs, targets):
    # dlogits, probs, targets: (B, C); dlogits is overwritten with the gradient of the mean loss.
    B, C = probs.shape
    for b in range(B):
        ysum = 0.0
        for c in range(C):
            ysum += targets[b, c]
        for c in range(C):
            dlogits[b, c] = (ysum * probs[b, c] - targets[b, c]) / B


@njit(cache=True, error_model='numpy')
def softmax_crossentropy_fused(dlogits, logits, targets, weights=None):
    # Training's one pass: loss and gradient together, without storing probabilities.
    # dlogits, logits, targets: (B, C); weights: None or (B,). Returns the summed loss.
    B, C = logits.shape
    total = 0.0
    for b in range(B):
        m, s = _row_max_and_sum(logits, b)
        lse = m + math.log(s)
        ysum = 0.0
        row = 0.0
        for c in range(C):
            ysum += targets[b, c]
            row += targets[b, c] * (lse - logits[b, c])
        if weights is not None:
            row *= weights[b]
        total += row
        for c in range(C):
            p = math.exp(logits[b, c] - m) / s
            dlogits[b, c] = (ysum * p - targets[b, c]) / B
    return total


@njit(cache=True, error_model='numpy', inline='always')
def _check_label(label, C):
    # The caller validated labels already; this keeps a bad one from ever indexing out of bounds.
    if label < 0 or label >= C:
        raise IndexError("label out of range for the number of classes")


@njit(cache=True, error_model='numpy')
def sparse_softmax_crossentropy_forward(probs, logits, labels, weights=None):
    # probs, logits: (B, C); labels: (B,) integers in [0, C); weights: None or (B,). Returns the summed loss.
    B, C = logits.shape
    total = 0.0
    for b in range(B):
        label = labels[b]
        _check_label(label, C)
        m, s = _row_max_and_sum(logits, b)
        for c in range(C):
            probs[b, c] = math.exp(logits[b, c] - m) / s
        row = m + math.log(s) - logits[b, label]
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def sparse_softmax_crossentropy_backward(dlogits, probs, labels):
    # dlogits, probs: (B, C); labels: (B,). dlogits = (p - onehot(label)) / B, overwritten.
    B, C = probs.shape
    for b in range(B):
        label = labels[b]
        _check_label(label, C)
        for c in range(C):
            dlogits[b, c] = probs[b, c] / B
        dlogits[b, label] -= 1.0 / B


@njit(cache=True, error_model='numpy')
def sparse_softmax_crossentropy_fused(dlogits, logits, labels, weights=None):
    # dlogits, logits: (B, C); labels: (B,); weights: None or (B,). One pass: returns the summed loss, writes
    # the gradient.
    B, C = logits.shape
    total = 0.0
    for b in range(B):
        label = labels[b]
        _check_label(label, C)
        m, s = _row_max_and_sum(logits, b)
        row = m + math.log(s) - logits[b, label]
        if weights is not None:
            row *= weights[b]
        total += row
        for c in range(C):
            dlogits[b, c] = math.exp(logits[b, c] - m) / s / B
        dlogits[b, label] -= 1.0 / B
    return total
