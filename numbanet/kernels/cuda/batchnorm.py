"""BatchNormalization over the last axis on the GPU. Twin of kernels/cpu/batchnorm.py.

Per-channel sums run one thread per channel over the rows in ascending order (float64, no atomics), so
they are deterministic; the per-element passes run one thread per element. A (4, C) float64 scratch row
set carries mean, invstd and the backward's two means from the first kernel to the second.
Array reads are wrapped in float() so that the simulator, whose numpy float32 scalars would otherwise
win over Python floats, sums in float64 as the GPU does.
"""
import math

import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, scratch


@cuda.jit
def _stats(mean, var, coef, x, epsilon):
    # One thread per channel: two passes in float64; coef[c] = mean, coef[C + c] = 1 / sqrt(var + eps).
    c = cuda.grid(1)
    R, C = x.shape
    if c < C:
        m = 0.0
        for r in range(R):
            m += float(x[r, c])
        m /= R
        s = 0.0
        for r in range(R):
            d = float(x[r, c]) - m
            s += d * d
        v = s / R
        mean[c] = m
        var[c] = v
        coef[c] = m
        coef[C + c] = 1.0 / math.sqrt(v + epsilon)


@cuda.jit
def _infer_coef(coef, moving_mean, moving_var, epsilon):
    c = cuda.grid(1)
    C = moving_mean.shape[0]
    if c < C:
        coef[c] = float(moving_mean[c])
        coef[C + c] = 1.0 / math.sqrt(float(moving_var[c]) + epsilon)


@cuda.jit
def _normalize(out, x, coef, gamma, beta):
    # out = (x - mean) * invstd * gamma + beta, in float64, rounded once.
    i = cuda.grid(1)
    R, C = x.shape
    if i < R * C:
        r, c = i // C, i % C
        out[r, c] = (float(x[r, c]) - coef[c]) * coef[C + c] * float(gamma[c]) + float(beta[c])


@cuda.jit
def _update_moving(moving_mean, moving_var, mean, var, momentum):
    c = cuda.grid(1)
    if c < mean.shape[0]:
        moving_mean[c] = float(moving_mean[c]) * momentum + float(mean[c]) * (1.0 - momentum)
        moving_var[c] = float(moving_var[c]) * momentum + float(var[c]) * (1.0 - momentum)


@cuda.jit
def _grad_sums(dgamma, dbeta, coef, dout, x, mean, var, epsilon):
    # One thread per channel: dbeta += sum dout, dgamma += sum dout * xhat; coef holds mean, invstd and
    # both sums over R for _grad_input.
    c = cuda.grid(1)
    R, C = x.shape
    if c < C:
        m = float(mean[c])
        inv = 1.0 / math.sqrt(float(var[c]) + epsilon)
        s1 = 0.0
        s2 = 0.0
        for r in range(R):
            g = float(dout[r, c])
            s1 += g
            s2 += g * ((float(x[r, c]) - m) * inv)
        dbeta[c] = float(dbeta[c]) + s1
        dgamma[c] = float(dgamma[c]) + s2
        coef[c] = m
        coef[C + c] = inv
        coef[2 * C + c] = s1 / R
        coef[3 * C + c] = s2 / R


@cuda.jit
def _grad_input(dx, dout, x, coef, gamma):
    # dx = gamma * invstd * (dout - mean(dout) - xhat * mean(dout * xhat)).
    i = cuda.grid(1)
    R, C = x.shape
    if i < R * C:
        r, c = i // C, i % C
        inv = coef[C + c]
        xhat = (float(x[r, c]) - coef[c]) * inv
        dx[r, c] = float(gamma[c]) * inv * (float(dout[r, c]) - coef[2 * C + c] - xhat * coef[3 * C + c])


@cuda.jit
def _backward_infer(dx, dout, moving_var, gamma, epsilon):
    i = cuda.grid(1)
    R, C = dout.shape
    if i < R * C:
        r, c = i // C, i % C
        dx[r, c] = float(dout[r, c]) * (float(gamma[c]) / math.sqrt(float(moving_var[c]) + epsilon))


def _coef(C):
    return scratch('batchnorm_coef', 4 * C, np.float64)


def batchnorm_forward_train(out, mean, var, x, gamma, beta, epsilon):
    # out, x: (R, C); mean, var (C,) are written with the batch's mean and biased variance; gamma, beta: (C,).
    R, C = x.shape
    coef = _coef(C)
    _stats[blocks(C), THREADS](mean, var, coef, x, float(epsilon))
    _normalize[blocks(R * C), THREADS](out, x, coef, gamma, beta)


def batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, epsilon):
    # out, x: (R, C); moving_mean, moving_var, gamma, beta: (C,). Normalizes with the moving statistics.
    R, C = x.shape
    coef = _coef(C)
    _infer_coef[blocks(C), THREADS](coef, moving_mean, moving_var, float(epsilon))
    _normalize[blocks(R * C), THREADS](out, x, coef, gamma, beta)


def batchnorm_update_moving(moving_mean, moving_var, mean, var, momentum):
    # moving_mean, moving_var, mean, var: (C,); moving = moving * momentum + batch * (1 - momentum).
    _update_moving[blocks(mean.shape[0]), THREADS](moving_mean, moving_var, mean, var, float(momentum))


def batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, epsilon):
    # dx, dout, x: (R, C); dgamma, dbeta, mean, var, gamma: (C,). dgamma, dbeta accumulate; dx is overwritten.
    R, C = x.shape
    coef = _coef(C)
    _grad_sums[blocks(C), THREADS](dgamma, dbeta, coef, dout, x, mean, var, float(epsilon))
    _grad_input[blocks(R * C), THREADS](dx, dout, x, coef, gamma)


def batchnorm_backward_infer(dx, dout, moving_var, gamma, epsilon):
    # dx, dout: (R, C); moving_var, gamma: (C,). Fixed statistics: dx = dout * gamma / sqrt(var + eps).
    R, C = dout.shape
    _backward_infer[blocks(R * C), THREADS](dx, dout, moving_var, gamma, float(epsilon))
