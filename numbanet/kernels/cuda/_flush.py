"""Optimizer state is stored without subnormal floats (twin of kernels/cpu/_flush.py, whose docstring says
why): the GPU stores the same values as the CPU, so a model moved between devices trains alike."""
from numba import cuda, float32

TINY = float32(1.1754943508222875e-38)  # float32's smallest normal number


@cuda.jit(device=True, inline='always')
def flush(x):
    # "not below", so that NaN passes through for the check to refuse.
    return x if not abs(x) < TINY else float32(0.0)
