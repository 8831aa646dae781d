"""LayerNormalization over the last axis on the GPU. Twin of kernels/cpu/layernorm.py.

The row statistics and the input gradient run one thread per row, the dgamma and dbeta sums one thread
per channel over the rows in ascending order: float64, no atomics, the same bits on every run. Each
thread keeps its sums in registers, so the backward's `work` (the CPU twin's scratch) is checked but not
needed. Array reads are wrapped in float() so the simulator sums in float64 as the GPU does.
"""
import math

from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


def _check_work(work, C):
    # The same check as the CPU twin's, so a buffer that is wrong on one device is wrong on both.
    if work.shape != (4, C):
        raise ValueError(f"work must be a float64 array of shape (4, {C}), got shape {work.shape}")


@cuda.jit
def _forward(out, mean, invstd, x, gamma, beta, epsilon):
    r = cuda.grid(1)
    R, C = x.shape
    if r < R:
        m = 0.0
        for c in range(C):
            m += float(x[r, c])
        m /= C
        v = 0.0
        for c in range(C):
            d = float(x[r, c]) - m
            v += d * d
        inv = 1.0 / math.sqrt(v / C + epsilon)
        mean[r] = m
        invstd[r] = inv
        for c in range(C):
            out[r, c] = (float(x[r, c]) - m) * inv * float(gamma[c]) + float(beta[c])


@cuda.jit
def _backward_rows(dx, dout, x, mean, invstd, gamma):
    # With g = dout * gamma and xhat = (x - mean) * invstd: dx = invstd * (g - mean(g) - xhat * mean(g * xhat)).
    r = cuda.grid(1)
    R, C = x.shape
    if r < R:
        m = float(mean[r])
        inv = float(invstd[r])
        s1 = 0.0
        s2 = 0.0
        for c in range(C):
            g = float(dout[r, c]) * float(gamma[c])
            s1 += g
            s2 += g * ((float(x[r, c]) - m) * inv)
        s1 /= C
        s2 /= C
        for c in range(C):
            g = float(dout[r, c]) * float(gamma[c])
            dx[r, c] = inv * (g - s1 - (float(x[r, c]) - m) * inv * s2)


@cuda.jit
def _param_sums(dgamma, dbeta, dout, x, mean, invstd):
    # One thread per channel: dgamma += sum over rows of dout * xhat, dbeta += sum of dout.
    c = cuda.grid(1)
    R, C = x.shape
    if c < C:
        a = 0.0
        b = 0.0
        for r in range(R):
            g = float(dout[r, c])
            a += g * ((float(x[r, c]) - float(mean[r])) * float(invstd[r]))
            b += g
        dgamma[c] = float(dgamma[c]) + a
        dbeta[c] = float(dbeta[c]) + b


def layernorm_forward(out, mean, invstd, x, gamma, beta, epsilon):
    # out, x: (R, C); mean, invstd (R,) are written (invstd = 1 / sqrt(var + epsilon)); gamma, beta: (C,).
    _forward[blocks(x.shape[0]), THREADS](out, mean, invstd, x, gamma, beta, float(epsilon))


def layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work):
    # dx, dout, x: (R, C); mean, invstd: (R,); dgamma, dbeta, gamma: (C,); work: (4, C) float64. dgamma, dbeta
    # accumulate; dx is overwritten.
    _check_work(work, x.shape[1])
    _backward_rows[blocks(x.shape[0]), THREADS](dx, dout, x, mean, invstd, gamma)
    _param_sums[blocks(x.shape[1]), THREADS](dgamma, dbeta, dout, x, mean, invstd)
