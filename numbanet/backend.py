"""One object per device: its kernel set and how arrays are made there, filled, and moved.

The runtime never calls numpy or numba for computation directly: it asks `backend.k.<kernel>` and
makes arrays with `backend.empty/zeros`, so the same layer code runs on either device. to_numpy() and
write() move values in and out of an array wherever it lives.
"""
import os

import numpy as np

from numbanet.kernels import cpu as cpu_kernels

DTYPE = np.float32


class CPUBackend:
    name = 'cpu'

    def __init__(self):
        self.k = cpu_kernels

    def empty(self, shape, dtype=DTYPE):
        # On a cache line (64 bytes, one AVX-512 vector): from numpy's 16-byte alignment, vector loads split
        # over two lines and a batch-1 forward of the reference MLP, streaming its weights, took 15.6 us, not 11.8.
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) * dtype.itemsize
        raw = np.empty(size + 64, np.uint8)
        start = -raw.ctypes.data % 64
        return raw[start:start + size].view(dtype).reshape(shape)

    def zeros(self, shape, dtype=DTYPE):
        array = self.empty(shape, dtype)
        array.fill(0)
        return array

    def fill(self, array, value):
        array.fill(value)

    def to_device(self, array):
        if isinstance(array, tuple):  # a multi-output model's targets (outputs.Targets), array by array
            return type(array)(map(self.to_device, array))
        return np.ascontiguousarray(array)

    def to_host(self, array):
        return array

    def __repr__(self):
        return 'CPUBackend()'


class CUDABackend:
    name = 'cuda'

    def __init__(self):
        from numba import cuda
        from numbanet.kernels import cuda as kernels
        self.cuda = cuda
        self.k = kernels

    def empty(self, shape, dtype=DTYPE):
        return self.cuda.device_array(shape, dtype)

    def zeros(self, shape, dtype=DTYPE):
        array = self.cuda.device_array(shape, dtype)
        self.fill(array, 0)
        return array

    def fill(self, array, value):
        from numbanet.kernels.cuda._grid import fill
        fill(array, value)

    def to_device(self, array):
        if isinstance(array, tuple):
            return type(array)(map(self.to_device, array))
        if is_device_array(array):
            return array
        return self.cuda.to_device(np.ascontiguousarray(array))

    def to_host(self, array):
        return array.copy_to_host()

    def __repr__(self):
        return 'CUDABackend()'


def is_device_array(array):
    return hasattr(array, 'copy_to_host')


def to_numpy(array):
    """A host copy of an array, wherever it lives."""
    if is_device_array(array):
        return array.copy_to_host()
    return np.array(array, copy=True)


def rows(array):
    """A (rows, last axis) view of a contiguous array of any rank: how kernels see "every axis but the
    last" (activations, normalizations, losses)."""
    if array is None or len(array.shape) == 2:
        return array
    shape = tuple(array.shape)  # (the CUDA simulator's shapes take no negative index)
    return array.reshape(-1, shape[-1])


def write(dst, src):
    """dst[...] = src, for dst and src on the host or the device."""
    if is_device_array(dst):
        if is_device_array(src):
            dst.copy_to_device(src)
        else:
            dst.copy_to_device(np.ascontiguousarray(src, dtype=dst.dtype).reshape(dst.shape))
    else:
        dst[...] = to_numpy(src) if is_device_array(src) else src


def simulator_active():
    return os.environ.get('NUMBA_ENABLE_CUDASIM', '') not in ('', '0')


def cuda_available():
    """True when an NVIDIA GPU can run numbanet's CUDA kernels here. numba's CUDA simulator is not a GPU
    and does not count."""
    if simulator_active():
        return False
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # numba without its CUDA target, a broken driver: no GPU either way
        return False


_BACKENDS = {}


def get_backend(device='cpu'):
    if device not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == 'cuda' and not cuda_available():
        # The simulator runs the kernels one Python thread per GPU thread: for tests, opted into.
        if not (simulator_active() and os.environ.get('NUMBANET_ALLOW_CUDASIM', '') not in ('', '0')):
            raise RuntimeError(
                "device='cuda' needs an NVIDIA GPU with a working driver and numba's CUDA target "
                "(pip install 'numbanet[cuda]'), and none is usable here"
                + (" (numba's CUDA simulator is on; set NUMBANET_ALLOW_CUDASIM=1 to run on it, for tests)"
                   if simulator_active() else "") + "; use device='cpu'")
    if device not in _BACKENDS:
        _BACKENDS[device] = CPUBackend() if device == 'cpu' else CUDABackend()
    return _BACKENDS[device]
