"""Concatenation along the last axis: each input owns the column range [offset, offset + width)."""
from numbanet.kernels.cpu._jit import njit


@njit(cache=True)
def concat_forward(out, inp, offset):
    # out: (B, C); inp: (B, W) copied into out[:, offset:offset+W].
    if offset < 0 or offset + inp.shape[1] > out.shape[1] or inp.shape[0] != out.shape[0]:
        raise IndexError("concat_forward: column range outside the output")
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            out[b, offset + c] = inp[b, c]


@njit(cache=True)
def concat_backward(dinp, dout, offset):
    # dinp: (B, W) = dout[:, offset:offset+W] (overwritten).
    if offset < 0 or offset + dinp.shape[1] > dout.shape[1] or dinp.shape[0] != dout.shape[0]:
        raise IndexError("concat_backward: column range outside the output")
    for b in range(dinp.shape[0]):
        for c in range(dinp.shape[1]):
            dinp[b, c] = dout[b, offset + c]
