"""Knowledge distillation's loss on the GPU, one thread per row, then the deterministic device sum.
Twin of kernels/cpu/distillation.py (the formulas are there)."""
import math

import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit(device=True, inline='always')
def _lse(z, b, inv_t):
    m = z[b, 0] * inv_t
    for c in range(1, z.shape[1]):
        m = max(m, z[b, c] * inv_t)
    s = 0.0
    for c in range(z.shape[1]):
        s += math.exp(z[b, c] * inv_t - m)
    return m + math.log(s)


@cuda.jit
def _forward(losses, student, teacher, targets, temperature, alpha):
    b = cuda.grid(1)
    if b < student.shape[0]:
        inv_t = 1.0 / temperature
        lse, lse_s, lse_t = _lse(student, b, 1.0), _lse(student, b, inv_t), _lse(teacher, b, inv_t)
        hard = 0.0
        soft = 0.0
        for c in range(student.shape[1]):
            hard += targets[b, c] * (lse - student[b, c])
            log_pt = teacher[b, c] * inv_t - lse_t
            soft += math.exp(log_pt) * (log_pt - (student[b, c] * inv_t - lse_s))
        losses[b] = alpha * hard + (1.0 - alpha) * temperature * temperature * soft


@cuda.jit
def _backward(dstudent, student, teacher, targets, temperature, alpha):
    b = cuda.grid(1)
    B = student.shape[0]
    if b < B:
        inv_t = 1.0 / temperature
        lse, lse_s, lse_t = _lse(student, b, 1.0), _lse(student, b, inv_t), _lse(teacher, b, inv_t)
        ysum = 0.0
        for c in range(student.shape[1]):
            ysum += targets[b, c]
        for c in range(student.shape[1]):
            p = math.exp(student[b, c] - lse)
            ps = math.exp(student[b, c] * inv_t - lse_s)
            pt = math.exp(teacher[b, c] * inv_t - lse_t)
            dstudent[b, c] = (alpha * (ysum * p - targets[b, c]) + (1.0 - alpha) * temperature * (ps - pt)) / B


def distillation_forward(student, teacher, targets, temperature, alpha, weights=None):
    B = student.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, student, teacher, targets, float(temperature), float(alpha))
    return device_sum(losses, B, weights)


def distillation_backward(dstudent, student, teacher, targets, temperature, alpha):
    _backward[blocks(student.shape[0]), THREADS](dstudent, student, teacher, targets, float(temperature),
                                                  float(alpha))
