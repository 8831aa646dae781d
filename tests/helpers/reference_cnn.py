"""An independent numpy convnet (float64, no numbanet code): conv 'same'/'valid' with strides, ReLU, 2x2 max
pooling, flatten, dense, softmax cross-entropy, and their gradients, for checking one training step."""
import numpy as np


def pad_same(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def conv_forward(x, w, b, stride, padding):
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    if padding == 'same':
        Ho, pt, pb = pad_same(H, KH, stride)
        Wo, pl, pr = pad_same(W, KW, stride)
    else:
        Ho, Wo, pt, pb, pl, pr = (H - KH) // stride + 1, (W - KW) // stride + 1, 0, 0, 0, 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    out = np.zeros((N, Ho, Wo, F)) + b
    for ky in range(KH):
        for kx in range(KW):
            out += xp[:, ky:ky + stride * (Ho - 1) + 1:stride, kx:kx + stride * (Wo - 1) + 1:stride] @ w[ky, kx]
    return out, (xp, pt, pl, stride)


def conv_backward(dout, w, cache, x_shape):
    xp, pt, pl, stride = cache
    KH, KW = w.shape[:2]
    _, Ho, Wo, _ = dout.shape
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for ky in range(KH):
        for kx in range(KW):
            win = (slice(None), slice(ky, ky + stride * (Ho - 1) + 1, stride), slice(kx, kx + stride * (Wo - 1) + 1, stride))
            dw[ky, kx] = np.einsum('nhwc,nhwf->cf', xp[win], dout)
            dxp[win] += dout @ w[ky, kx].T
    H, W = x_shape[1:3]
    return dxp[:, pt:pt + H, pl:pl + W], dw, dout.sum((0, 1, 2))


def maxpool_forward(x):
    N, H, W, C = x.shape
    Ho, Wo = H // 2, W // 2
    win = x[:, :2 * Ho, :2 * Wo].reshape(N, Ho, 2, Wo, 2, C)
    out = win.max((2, 4))
    return out, (x.shape, win, out)


def maxpool_backward(dout, cache):
    shape, win, out = cache
    N, Ho, _, Wo, _, C = win.shape
    # The first maximum of each window in scan order takes the gradient (inputs here have no ties).
    mask = win == out[:, :, None, :, None, :]
    dx = np.zeros(shape)
    dx[:, :2 * Ho, :2 * Wo] = (mask * dout[:, :, None, :, None, :]).reshape(N, 2 * Ho, 2 * Wo, C)
    return dx


def softmax_ce(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    n = len(labels)
    loss = -np.log(p[np.arange(n), labels]).mean()
    d = p.copy()
    d[np.arange(n), labels] -= 1
    return loss, d / n


def sgd_step(params, x, labels, lr, conv_specs):
    """One SGD step of conv(relu) layers (conv_specs: [(stride, padding, pool)]) -> flatten -> dense -> softmax
    cross-entropy on float64 copies of params [(w, b), ..., (W, b)]. Returns (loss, updated params)."""
    h, caches = x.astype(np.float64), []
    for (w, b), (stride, padding, pool) in zip(params[:-1], conv_specs):
        z, cc = conv_forward(h, w, b, stride, padding)
        a = np.maximum(z, 0)
        pc = None
        if pool:
            a, pc = maxpool_forward(a)
        caches.append((h.shape, cc, z, pc))
        h = a
    flat = h.reshape(len(h), -1)
    W, bd = params[-1]
    loss, dlogits = softmax_ce(flat @ W + bd, labels)
    grads = [(flat.T @ dlogits, dlogits.sum(0))]
    dh = (dlogits @ W.T).reshape(h.shape)
    for (w, b), (shape, cc, z, pc) in zip(reversed(params[:-1]), reversed(caches)):
        if pc is not None:
            dh = maxpool_backward(dh, pc)
        dz = dh * (z > 0)
        dh, dw, db = conv_backward(dz, w, cc, shape)
        grads.insert(0, (dw, db))
    return loss, [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)]
