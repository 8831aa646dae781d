"""Concatenation along the last axis on the GPU. Twin of kernels/cpu/concat.py."""
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _forward(out, inp, offset):
    i = cuda.grid(1)
    W = inp.shape[1]
    if i < inp.shape[0] * W:
        out[i // W, offset + i % W] = inp[i // W, i % W]


@cuda.jit
def _backward(dinp, dout, offset):
    i = cuda.grid(1)
    W = dinp.shape[1]
    if i < dinp.shape[0] * W:
        dinp[i // W, i % W] = dout[i // W, offset + i % W]


def _check(wide, narrow, offset, what):
    if offset < 0 or offset + narrow.shape[1] > wide.shape[1] or narrow.shape[0] != wide.shape[0]:
        raise IndexError(f"{what}: column range outside the output")


def concat_forward(out, inp, offset):
    _check(out, inp, offset, 'concat_forward')
    _forward[blocks(inp.shape[0] * inp.shape[1]), THREADS](out, inp, offset)


def concat_backward(dinp, dout, offset):
    _check(dout, dinp, offset, 'concat_backward')
    _backward[blocks(dinp.shape[0] * dinp.shape[1]), THREADS](dinp, dout, offset)
