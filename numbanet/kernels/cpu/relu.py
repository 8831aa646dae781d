"""ReLU. Outputs must not overlap inputs: LLVM vectorises these loops only after a runtime check
that they do not, and an in-place call would fall back to a scalar loop several times slower."""
from numba import njit


@njit(cache=True)
def relu_forward(out, inp):
    # out, inp: (B, C)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            out[b, c] = x if x > 0.0 else 0.0


@njit(cache=True)
def relu_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); the mask comes from out (out > 0 exactly where inp > 0).
    # dinp is overwritten, not accumulated: activations own no parameters.
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            dinp[b, c] = dout[b, c] if out[b, c] > 0.0 else 0.0
