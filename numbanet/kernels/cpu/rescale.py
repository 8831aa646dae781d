"""Keras's Rescaling, out = inp * scale + offset, in float32 with the factors rounded to float32 once (as Keras
casts them), and its gradient dinp = dout * scale."""
import numpy as np

from numbanet.kernels.cpu._jit import njit


@njit(cache=True)
def rescale_forward(out, inp, scale, offset):
    # out, inp: (B, C)
    s, o = np.float32(scale), np.float32(offset)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = inp[i, j] * s + o


@njit(cache=True)
def rescale_backward(dinp, dout, scale):
    # dinp, dout: (B, C); dinp is overwritten, not accumulated: the layer owns no parameters
    s = np.float32(scale)
    for i in range(dinp.shape[0]):
        for j in range(dinp.shape[1]):
            dinp[i, j] = dout[i, j] * s
