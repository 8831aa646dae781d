"""Elementwise sum, for the Add merge and for summing the gradients of a tensor used twice."""
from numbanet.kernels.cpu._jit import njit


@njit(cache=True)
def add_forward(out, a, b):
    # out, a, b: (B, C); out may be a or b.
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] + b[i, j]


@njit(cache=True)
def add_backward(dinp, dout):
    # dinp, dout: (B, C); each addend receives the whole output gradient (overwritten).
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dinp[i, j] = dout[i, j]
