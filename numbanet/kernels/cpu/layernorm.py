"""LayerNormalization over the last axis (Keras): each row of x (R, C) to mean 0 and variance 1 over its C
features, then scaled by gamma and shifted by beta, both (C,).

Row statistics run in float64, two passes (mean, then squared deviations), each a fixed-order sum
(_fsum: 2.3x faster than one running sum, which waits on every add); dgamma and dbeta sum each channel
over the rows in ascending order. Above PARALLEL_MIN elements the per-row work splits into bands of rows
and the per-channel sums into runs of channels, so no two threads write one cell and no result depends
on the thread count.
"""
import numba
import numpy as np
from numba import njit, prange

CB = 16                    # parallel channel runs of the dgamma, dbeta sums are a multiple of this
PARALLEL_MIN = 1 << 18     # elements; below this a thread pool costs more than it saves (probes.md)


@njit(cache=True)
def _channels_per_thread(C, threads):
    # One contiguous run of channels per thread, a multiple of CB wide: long row slices stream well.
    blocks = (C + CB - 1) // CB
    return (blocks + threads - 1) // threads * CB


def _threads(size):
    return numba.get_num_threads() if size >= PARALLEL_MIN else 1


@njit(cache=True)
def _fsum(v):
    # Sum of v (float64) in a fixed order: blocks of 8 as a balanced tree, the blocks in ascending order.
    # One dependent add per 8 values instead of per value: a row sum that is not latency-bound.
    n = v.shape[0]
    full = n - n % 8
    s = 0.0
    for c in range(0, full, 8):
        s += ((v[c] + v[c + 1]) + (v[c + 2] + v[c + 3])) + ((v[c + 4] + v[c + 5]) + (v[c + 6] + v[c + 7]))
    for c in range(full, n):
        s += v[c]
    return s


@njit(cache=True, error_model='numpy')
def _forward_rows(out, mean, invstd, x, gamma, beta, epsilon, r0, r1):
    C = x.shape[1]
    t = np.empty(C)  # one row of terms to sum
    for r in range(r0, r1):
        xr, orow = x[r], out[r]
        for c in range(C):
            t[c] = xr[c]
        m = _fsum(t) / C
        for c in range(C):
            d = xr[c] - m
            t[c] = d * d
        inv = 1.0 / np.sqrt(_fsum(t) / C + epsilon)
        mean[r] = m
        invstd[r] = inv
        for c in range(C):
            orow[c] = (xr[c] - m) * inv * gamma[c] + beta[c]


@njit(cache=True, error_model='numpy')
def _backward_rows(dx, dout, x, mean, invstd, gamma, r0, r1):
    # With g = dout * gamma and xhat = (x - mean) * invstd: dx = invstd * (g - mean(g) - xhat * mean(g * xhat)).
    C = x.shape[1]
    t = np.empty(C)
    for r in range(r0, r1):
        xr, dr, dxr = x[r], dout[r], dx[r]
        m = np.float64(mean[r])
        inv = np.float64(invstd[r])
        for c in range(C):
            t[c] = np.float64(dr[c]) * gamma[c]
        s1 = _fsum(t) / C
        for c in range(C):
            t[c] = np.float64(dr[c]) * gamma[c] * ((xr[c] - m) * inv)
        s2 = _fsum(t) / C
        for c in range(C):
            dxr[c] = inv * (np.float64(dr[c]) * gamma[c] - s1 - (xr[c] - m) * inv * s2)


@njit(cache=True)
def _param_sums(dgamma, dbeta, acc, dout, x, mean, invstd, c0, c1):
    # acc (2, C) float64: each channel's sum over rows, in order, of dout * xhat and of dout.
    a, b = acc[0, c0:c1], acc[1, c0:c1]
    a[:] = 0.0
    b[:] = 0.0
    for r in range(x.shape[0]):
        xr, dr = x[r, c0:c1], dout[r, c0:c1]
        m = np.float64(mean[r])
        inv = np.float64(invstd[r])
        for c in range(xr.shape[0]):
            g = np.float64(dr[c])
            a[c] += g * ((xr[c] - m) * inv)
            b[c] += g
    for c in range(a.shape[0]):
        dgamma[c0 + c] += a[c]
        dbeta[c0 + c] += b[c]


@njit(cache=True, parallel=True)
def _forward_parallel(out, mean, invstd, x, gamma, beta, epsilon, threads):
    R = x.shape[0]
    per = (R + threads - 1) // threads
    for t in prange(threads):
        _forward_rows(out, mean, invstd, x, gamma, beta, epsilon, min(R, t * per), min(R, (t + 1) * per))


@njit(cache=True, parallel=True)
def _backward_parallel(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, acc, threads):
    R, C = x.shape
    per = (R + threads - 1) // threads
    for t in prange(threads):
        _backward_rows(dx, dout, x, mean, invstd, gamma, min(R, t * per), min(R, (t + 1) * per))
    cper = _channels_per_thread(C, threads)
    for t in prange((C + cper - 1) // cper):
        _param_sums(dgamma, dbeta, acc, dout, x, mean, invstd, t * cper, min(C, (t + 1) * cper))


def layernorm_forward(out, mean, invstd, x, gamma, beta, epsilon):
    # out, x: (R, C); mean, invstd (R,) are written (invstd = 1 / sqrt(var + epsilon)); gamma, beta: (C,).
    threads = _threads(x.size)
    if threads > 1:
        _forward_parallel(out, mean, invstd, x, gamma, beta, epsilon, threads)
    else:
        _forward_rows(out, mean, invstd, x, gamma, beta, epsilon, 0, x.shape[0])


def layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma):
    # dx, dout, x: (R, C); mean, invstd: (R,); dgamma, dbeta, gamma: (C,). dgamma += sum dout * xhat and
    # dbeta += sum dout (over rows); dx is overwritten.
    acc = np.empty((2, x.shape[1]))
    threads = _threads(x.size)
    if threads > 1:
        _backward_parallel(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, acc, threads)
    else:
        _backward_rows(dx, dout, x, mean, invstd, gamma, 0, x.shape[0])
        _param_sums(dgamma, dbeta, acc, dout, x, mean, invstd, 0, x.shape[1])
