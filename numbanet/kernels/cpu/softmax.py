"""Softmax over the last axis. Outputs must not overlap inputs (see relu.py)."""
import math


from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy')
def softmax_forward(out, inp):
    # out, inp: (B, C). Subtracting the row max keeps exp() finite for any finite logits.
    B, C = inp.shape
    for b in range(B):
        m = inp[b, 0]
        for c in range(1, C):
            m = max(m, inp[b, c])
        s = 0.0
        for c in range(C):
            e = math.exp(inp[b, c] - m)
            out[b, c] = e
            s += e
        inv = 1.0 / s
        for c in range(C):
            out[b, c] *= inv


@njit(cache=True, error_model='numpy')
def softmax_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp = out * (dout - sum(dout * out)) row by row (overwritten).
    B, C = out.shape
    for b in range(B):
        s = 0.0
        for c in range(C):
            s += dout[b, c] * out[b, c]
        for c in range(C):
            dinp[b, c] = out[b, c] * (dout[b, c] - s)
