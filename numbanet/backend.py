"""One object per device: its kernel set and how arrays are made there and brought back.

The runtime never calls numpy or numba for computation directly: it asks `backend.k.<kernel>` and
makes arrays with `backend.empty/zeros`, so the same layer code runs wherever the kernels exist.
"""
import numpy as np

DTYPE = np.float32


class CPUBackend:
    name = 'cpu'

    def __init__(self):
        from numbanet.kernels import cpu
        self.k = cpu

    def empty(self, shape, dtype=DTYPE):
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype=DTYPE):
        return np.zeros(shape, dtype)

    def fill(self, array, value):
        array.fill(value)

    def to_device(self, array):
        return np.ascontiguousarray(array)

    def to_host(self, array):
        return array

    def __repr__(self):
        return 'CPUBackend()'


_BACKENDS = {}


def get_backend(device='cpu'):
    if device not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == 'cuda':
        raise ValueError("device='cuda': the GPU backend is not part of numbanet yet; use device='cpu'")
    if device not in _BACKENDS:
        _BACKENDS[device] = CPUBackend()
    return _BACKENDS[device]
