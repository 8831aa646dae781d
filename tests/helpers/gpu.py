"""Moving test arrays to the device and back, for the CUDA twins' tests (tests/gpu/)."""
import numpy as np
from numba import cuda


def dev(a):
    return cuda.to_device(np.ascontiguousarray(a))


def host(d):
    return d.copy_to_host()
