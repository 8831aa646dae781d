"""ReLU. Outputs must not overlap inputs: LLVM vectorises these loops only after a runtime check
that they do not, and an in-place call would fall back to a scalar loop several times slower."""
import numba

from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import bands

PARALLEL_MIN = 1 << 18     # elements; below this a thread pool costs more than it saves (probes.md)


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


@njit(cache=True)
def _relu_mask_rows(dout, out, r0, r1):
    for b in range(r0, r1):
        for c in range(out.shape[1]):
            if not out[b, c] > 0.0:
                dout[b, c] = 0.0


def relu_mask(dout, out):
    # dout, out: (B, C); dout = dout where out > 0, else 0, in place: the backward of a ReLU that a layer
    # applied itself (fused into its product), before the layer's own backward reads dout.
    fn, args = relu_mask_call(dout, out)
    fn(*args)


def relu_mask_call(dout, out):
    # (fn, args) with fn(*args) doing relu_mask(dout, out), checked once (a plan binds it).
    if dout.shape != out.shape:
        raise ValueError(f"relu_mask needs dout and out of one shape, got {dout.shape} and {out.shape}")
    if out.size >= PARALLEL_MIN:
        return _relu_mask_threads, (dout, out)
    return _relu_mask_rows, (dout, out, 0, out.shape[0])


def _relu_mask_threads(dout, out):
    threads = numba.get_num_threads()  # on every call: set_num_threads may change it
    if threads > 1:
        bands(_relu_mask_rows, out.shape[0], threads, dout, out)
    else:
        _relu_mask_rows(dout, out, 0, out.shape[0])
