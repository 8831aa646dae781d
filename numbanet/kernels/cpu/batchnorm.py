"""BatchNormalization over the last axis, as Keras 3 does it: x (R, C) is R rows of C channels, the batch
statistics are per channel and the variance is the biased one (divided by R).

Statistics and the backward's sums run in float64, each channel over its rows in ascending order, so no
result depends on the thread count. Above PARALLEL_MIN elements the work is split so that no two threads
write one cell: the per-channel sums by runs of channels (multiples of CB), the per-element passes by
bands of rows. The loops walk row slices, which LLVM vectorizes across channels (3x faster than indexing
x[r, c] from a variable first channel). Outputs are computed in float64 and rounded once.

The per-channel float64 scratch (mean, invstd and the backward's two sums) lives in `work` (4, C), which the
caller owns and keeps from step to step: no kernel here creates an array, so a training step allocates nothing.
"""
import numba
import numpy as np

from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import bands, run

CB = 16                    # parallel channel runs are a multiple of this: 16 float32 are one 64-byte line
PARALLEL_MIN = 1 << 18     # elements; below this a thread pool costs more than it saves (probes.md)


def _channels_per_thread(C, threads):
    # One contiguous run of channels per thread, a multiple of CB wide: long row slices stream well.
    blocks = (C + CB - 1) // CB
    return (blocks + threads - 1) // threads * CB


def _threads(size):
    # Size first: asking numba for the thread count costs about as much as a small kernel.
    return numba.get_num_threads() if size >= PARALLEL_MIN else 1


def _check_work(work, C):
    # The kernels index work[0:4, 0:C] unchecked: a smaller buffer would be written out of bounds.
    if work.shape != (4, C):
        raise ValueError(f"work must be a float64 array of shape (4, {C}), got shape {work.shape}")


# ---- the pieces: per-channel sums over channels [c0, c1), per-element work over rows [r0, r1) ---------------
@njit(cache=True, error_model='numpy')
def _stats(mean, var, work, x, epsilon, c0, c1):
    # Two passes (mean, then squared deviations) in float64; work[0], work[1] keep mean and 1/sqrt(var + eps).
    # Row slices let LLVM vectorize across channels (indexing x[r, c] directly with c >= c0 does not).
    R = x.shape[0]
    m, s = work[0, c0:c1], work[1, c0:c1]
    m[:] = 0.0
    s[:] = 0.0
    for r in range(R):
        xr = x[r, c0:c1]
        for c in range(xr.shape[0]):
            m[c] += xr[c]
    for c in range(m.shape[0]):
        m[c] /= R
    for r in range(R):
        xr = x[r, c0:c1]
        for c in range(xr.shape[0]):
            d = xr[c] - m[c]
            s[c] += d * d
    for c in range(m.shape[0]):
        v = s[c] / R
        mean[c0 + c] = m[c]
        var[c0 + c] = v
        s[c] = 1.0 / np.sqrt(v + epsilon)


@njit(cache=True)
def _normalize(out, x, work, gamma, beta, r0, r1):
    # out = (x - mean) * invstd * gamma + beta, in float64, rounded once; work[0], work[1]: mean, invstd.
    m64, inv64 = work[0], work[1]
    for r in range(r0, r1):
        xr, orow = x[r], out[r]
        for c in range(xr.shape[0]):
            orow[c] = (xr[c] - m64[c]) * inv64[c] * gamma[c] + beta[c]


@njit(cache=True, error_model='numpy')
def _grad_sums(dgamma, dbeta, work, dout, x, mean, var, epsilon, c0, c1):
    # work (4, C): mean, invstd, sum(dout) / R, sum(dout * xhat) / R; dbeta += sum dout, dgamma += sum dout xhat.
    R = x.shape[0]
    m, inv, s1, s2 = work[0, c0:c1], work[1, c0:c1], work[2, c0:c1], work[3, c0:c1]
    for c in range(m.shape[0]):
        m[c] = mean[c0 + c]
        inv[c] = 1.0 / np.sqrt(np.float64(var[c0 + c]) + epsilon)
        s1[c] = 0.0
        s2[c] = 0.0
    for r in range(R):
        xr, dr = x[r, c0:c1], dout[r, c0:c1]
        for c in range(xr.shape[0]):
            g = np.float64(dr[c])
            s1[c] += g
            s2[c] += g * ((xr[c] - m[c]) * inv[c])
    for c in range(m.shape[0]):
        dbeta[c0 + c] += s1[c]
        dgamma[c0 + c] += s2[c]
        s1[c] /= R
        s2[c] /= R


@njit(cache=True)
def _grad_input(dx, dout, x, work, gamma, r0, r1):
    # dx = gamma * invstd * (dout - mean(dout) - xhat * mean(dout * xhat)), with _grad_sums's work.
    m, inv, s1, s2 = work[0], work[1], work[2], work[3]
    for r in range(r0, r1):
        xr, dr, dxr = x[r], dout[r], dx[r]
        for c in range(xr.shape[0]):
            xhat = (xr[c] - m[c]) * inv[c]
            dxr[c] = gamma[c] * inv[c] * (dr[c] - s1[c] - xhat * s2[c])


def _forward_train_parallel(out, mean, var, x, gamma, beta, epsilon, work, threads):
    R, C = x.shape
    run(_stats, C, _channels_per_thread(C, threads), mean, var, work, x, epsilon)
    bands(_normalize, R, threads, out, x, work, gamma, beta)


def _backward_parallel(dx, dgamma, dbeta, dout, x, mean, var, gamma, epsilon, work, threads):
    R, C = x.shape
    run(_grad_sums, C, _channels_per_thread(C, threads), dgamma, dbeta, work, dout, x, mean, var, epsilon)
    bands(_grad_input, R, threads, dx, dout, x, work, gamma)


# ---- the kernels: work (4, C) float64, C-contiguous, is the caller's scratch; its contents do not matter -------
def batchnorm_forward_train(out, mean, var, x, gamma, beta, epsilon, work):
    # out, x: (R, C); mean, var (C,) are written with the batch's mean and biased variance; gamma, beta: (C,).
    C = x.shape[1]
    _check_work(work, C)
    threads = _threads(x.size)
    if threads > 1:
        _forward_train_parallel(out, mean, var, x, gamma, beta, epsilon, work, threads)
    else:
        _stats(mean, var, work, x, epsilon, 0, C)
        _normalize(out, x, work, gamma, beta, 0, x.shape[0])


@njit(cache=True, error_model='numpy')
def _forward_infer(out, x, moving_mean, moving_var, gamma, beta, epsilon, work):
    for c in range(x.shape[1]):
        work[0, c] = moving_mean[c]
        work[1, c] = 1.0 / np.sqrt(np.float64(moving_var[c]) + epsilon)
    _normalize(out, x, work, gamma, beta, 0, x.shape[0])


def batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, epsilon, work):
    # out, x: (R, C); moving_mean, moving_var, gamma, beta: (C,). Normalizes with the moving statistics.
    _check_work(work, x.shape[1])
    _forward_infer(out, x, moving_mean, moving_var, gamma, beta, epsilon, work)


@njit(cache=True)
def batchnorm_update_moving(moving_mean, moving_var, mean, var, momentum):
    # moving_mean, moving_var, mean, var: (C,); moving = moving * momentum + batch * (1 - momentum).
    for c in range(mean.shape[0]):
        moving_mean[c] = moving_mean[c] * momentum + np.float64(mean[c]) * (1.0 - momentum)
        moving_var[c] = moving_var[c] * momentum + np.float64(var[c]) * (1.0 - momentum)


def batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, epsilon, work):
    # dx, dout, x: (R, C); dgamma, dbeta, mean, var, gamma: (C,). The gradient through the batch statistics:
    # dgamma += sum dout * xhat, dbeta += sum dout (over rows), dx is overwritten.
    C = x.shape[1]
    _check_work(work, C)
    threads = _threads(x.size)
    if threads > 1:
        _backward_parallel(dx, dgamma, dbeta, dout, x, mean, var, gamma, epsilon, work, threads)
    else:
        _grad_sums(dgamma, dbeta, work, dout, x, mean, var, epsilon, 0, C)
        _grad_input(dx, dout, x, work, gamma, 0, x.shape[0])


@njit(cache=True, error_model='numpy')
def _backward_infer(dx, dout, moving_var, gamma, epsilon, work):
    C = dout.shape[1]
    k = work[0]
    for c in range(C):
        k[c] = gamma[c] / np.sqrt(np.float64(moving_var[c]) + epsilon)
    for r in range(dout.shape[0]):
        dr, dxr = dout[r], dx[r]
        for c in range(C):
            dxr[c] = dr[c] * k[c]


def batchnorm_backward_infer(dx, dout, moving_var, gamma, epsilon, work):
    # dx, dout: (R, C); moving_var, gamma: (C,). Fixed statistics (a frozen layer): dx = dout * gamma / sqrt(var + eps).
    _check_work(work, dout.shape[1])
    _backward_infer(dx, dout, moving_var, gamma, epsilon, work)
