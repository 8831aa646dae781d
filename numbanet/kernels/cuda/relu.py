"""ReLU on the GPU. Twin of kernels/cpu/relu.py."""
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _relu_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        x = inp[i // C, i % C]
        out[i // C, i % C] = x if x > 0.0 else 0.0


@cuda.jit
def _relu_backward(dinp, dout, out):
    i = cuda.grid(1)
    C = out.shape[1]
    if i < out.shape[0] * C:
        b, c = i // C, i % C
        dinp[b, c] = dout[b, c] if out[b, c] > 0.0 else 0.0


def relu_forward(out, inp):
    # out, inp: (B, C)
    _relu_forward[blocks(inp.shape[0] * inp.shape[1]), THREADS](out, inp)


def relu_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp is overwritten
    _relu_backward[blocks(out.shape[0] * out.shape[1]), THREADS](dinp, dout, out)


@cuda.jit
def _relu_mask(dout, out):
    i = cuda.grid(1)
    C = out.shape[1]
    if i < out.shape[0] * C:
        b, c = i // C, i % C
        if not out[b, c] > 0.0:
            dout[b, c] = 0.0


def relu_mask(dout, out):
    # dout, out: (B, C); dout = dout where out > 0, else 0, in place (a ReLU fused into the layer before it).
    fn, args = relu_mask_call(dout, out)
    fn(*args)


def relu_mask_call(dout, out):
    # (fn, args) with fn(*args) doing relu_mask(dout, out), checked once: the configured launch.
    if tuple(dout.shape) != tuple(out.shape):
        raise ValueError(f"relu_mask needs dout and out of one shape, got {dout.shape} and {out.shape}")
    return _relu_mask[blocks(out.shape[0] * out.shape[1]), THREADS], (dout, out)
