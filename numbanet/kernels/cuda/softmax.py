"""Softmax over the last axis on the GPU, one thread per row. Twin of kernels/cpu/softmax.py."""
import math

from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _softmax_forward(out, inp):
    b = cuda.grid(1)
    if b < inp.shape[0]:
        C = inp.shape[1]
        m = inp[b, 0]
        for c in range(1, C):
            m = max(m, inp[b, c])
        s = 0.0
        for c in range(C):
            e = math.exp(inp[b, c] - m)
            out[b, c] = e
            s += e
        for c in range(C):
            out[b, c] = out[b, c] / s


@cuda.jit
def _softmax_backward(dinp, dout, out):
    b = cuda.grid(1)
    if b < out.shape[0]:
        s = 0.0
        for c in range(out.shape[1]):
            s += dout[b, c] * out[b, c]
        for c in range(out.shape[1]):
            dinp[b, c] = out[b, c] * (dout[b, c] - s)


def softmax_forward(out, inp):
    _softmax_forward[blocks(inp.shape[0]), THREADS](out, inp)


def softmax_backward(dinp, dout, out):
    _softmax_backward[blocks(out.shape[0]), THREADS](dinp, dout, out)
