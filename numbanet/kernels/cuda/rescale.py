"""Keras's Rescaling on the GPU, one thread per element. Twin of kernels/cpu/rescale.py."""
from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _forward(out, inp, scale, offset):
    k = cuda.grid(1)
    C = out.shape[1]
    if k < out.shape[0] * C:
        i, j = k // C, k % C
        out[i, j] = inp[i, j] * scale + offset


def rescale_forward(out, inp, scale, offset):
    # out, inp: (B, C)
    _forward[blocks(out.shape[0] * out.shape[1]), THREADS](out, inp, float32(scale), float32(offset))


def rescale_backward(dinp, dout, scale):
    # dinp, dout: (B, C); dinp is overwritten, not accumulated: the layer owns no parameters
    _forward[blocks(dinp.shape[0] * dinp.shape[1]), THREADS](dinp, dout, float32(scale), float32(0.0))
