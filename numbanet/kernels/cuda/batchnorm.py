"""BatchNormalization over the last axis on the GPU. Twin of kernels/cpu/batchnorm.py.

Per-channel sums run one thread per channel over the rows in ascending order (float64, no atomics), so
they are deterministic; the per-element passes run one thread per element. The caller's `work`, a (4, C)
float64 device array, carries mean, invstd and the backward's two means from the first kernel to the second.
Array reads are wrapped in float() so that the simulator, whose numpy float32 scalars would otherwise
win over Python floats, sums in float64 as the GPU does.
"""
import math

from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _stats(mean, var, work, x, epsilon):
    # One thread per channel: two passes in float64; work[0, c] = mean, work[1, c] = 1 / sqrt(var + eps).
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
        work[0, c] = m
        work[1, c] = 1.0 / math.sqrt(v + epsilon)


@cuda.jit
def _infer_coef(work, moving_mean, moving_var, epsilon):
    c = cuda.grid(1)
    if c < moving_mean.shape[0]:
        work[0, c] = float(moving_mean[c])
        work[1, c] = 1.0 / math.sqrt(float(moving_var[c]) + epsilon)


@cuda.jit
def _normalize(out, x, work, gamma, beta):
    # out = (x - mean) * invstd * gamma + beta, in float64, rounded once; work[0], work[1]: mean, invstd.
    i = cuda.grid(1)
    R, C = x.shape
    if i < R * C:
        r, c = i // C, i % C
        out[r, c] = (float(x[r, c]) - work[0, c]) * work[1, c] * float(gamma[c]) + float(beta[c])


@cuda.jit
def _update_moving(moving_mean, moving_var, mean, var, momentum):
    c = cuda.grid(1)
    if c < mean.shape[0]:
        moving_mean[c] = float(moving_mean[c]) * momentum + float(mean[c]) * (1.0 - momentum)
        moving_var[c] = float(moving_var[c]) * momentum + float(var[c]) * (1.0 - momentum)


@cuda.jit
def _grad_sums(dgamma, dbeta, work, dout, x, mean, var, epsilon):
    # One thread per channel: dbeta += sum dout, dgamma += sum dout * xhat; work (4, C) keeps mean, invstd
    # and both sums over R for _grad_input.
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
        work[0, c] = m
        work[1, c] = inv
        work[2, c] = s1 / R
        work[3, c] = s2 / R


@cuda.jit
def _grad_input(dx, dout, x, work, gamma):
    # dx = gamma * invstd * (dout - mean(dout) - xhat * mean(dout * xhat)), with _grad_sums's work.
    i = cuda.grid(1)
    R, C = x.shape
    if i < R * C:
        r, c = i // C, i % C
        inv = work[1, c]
        xhat = (float(x[r, c]) - work[0, c]) * inv
        dx[r, c] = float(gamma[c]) * inv * (float(dout[r, c]) - work[2, c] - xhat * work[3, c])


@cuda.jit
def _backward_infer(dx, dout, moving_var, gamma, epsilon):
    i = cuda.grid(1)
    R, C = dout.shape
    if i < R * C:
        r, c = i // C, i % C
        dx[r, c] = float(dout[r, c]) * (float(gamma[c]) / math.sqrt(float(moving_var[c]) + epsilon))


def _check_work(work, C):
    # The kernels index work[0:4, 0:C] unchecked: a smaller buffer would be written out of bounds.
    if work.shape != (4, C):
        raise ValueError(f"work must be a float64 array of shape (4, {C}), got shape {work.shape}")


# ---- the kernels: work (4, C) float64, C-contiguous, is the caller's device scratch; its contents do not matter --
def batchnorm_forward_train(out, mean, var, x, gamma, beta, epsilon, work):
    # out, x: (R, C); mean, var (C,) are written with the batch's mean and biased variance; gamma, beta: (C,).
    R, C = x.shape
    _check_work(work, C)
    _stats[blocks(C), THREADS](mean, var, work, x, float(epsilon))
    _normalize[blocks(R * C), THREADS](out, x, work, gamma, beta)


def batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, epsilon, work):
    # out, x: (R, C); moving_mean, moving_var, gamma, beta: (C,). Normalizes with the moving statistics.
    R, C = x.shape
    _check_work(work, C)
    _infer_coef[blocks(C), THREADS](work, moving_mean, moving_var, float(epsilon))
    _normalize[blocks(R * C), THREADS](out, x, work, gamma, beta)


def batchnorm_update_moving(moving_mean, moving_var, mean, var, momentum):
    # moving_mean, moving_var, mean, var: (C,); moving = moving * momentum + batch * (1 - momentum).
    _update_moving[blocks(mean.shape[0]), THREADS](moving_mean, moving_var, mean, var, float(momentum))


def batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, epsilon, work):
    # dx, dout, x: (R, C); dgamma, dbeta, mean, var, gamma: (C,). dgamma, dbeta accumulate; dx is overwritten.
    R, C = x.shape
    _check_work(work, C)
    _grad_sums[blocks(C), THREADS](dgamma, dbeta, work, dout, x, mean, var, float(epsilon))
    _grad_input[blocks(R * C), THREADS](dx, dout, x, work, gamma)


def batchnorm_backward_infer(dx, dout, moving_var, gamma, epsilon, work):
    # dx, dout: (R, C); moving_var, gamma: (C,). Fixed statistics: dx = dout * gamma / sqrt(var + eps), one
    # thread an element; work is checked but not needed.
    R, C = dout.shape
    _check_work(work, C)
    _backward_infer[blocks(R * C), THREADS](dx, dout, moving_var, gamma, float(epsilon))
