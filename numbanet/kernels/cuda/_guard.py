"""What the optimizers' check kernels share on the GPU (twin of kernels/cpu/_guard.py). A check kernel
computes the step its update twin would write, and any thread that meets a non-finite value sets flag[0] = 1
(every writer stores the same 1, so the race is harmless); the optimizer reads the flag once per step.
Weight decay is folded in as params * decay: the compiler may fuse that product into the subtraction, which
can change the verdict only for a weight within an ulp of the float32 maximum."""
from numba import cuda


@cuda.jit(device=True, inline='always')
def finite(x):
    return abs(x) < float('inf')
