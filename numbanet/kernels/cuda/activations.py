"""Keras's element-wise activations on the GPU, one thread per element. Twin of kernels/cpu/activations.py:
the same float32 constants and the same formulas (see that file for why each is written as it is), so the
two agree within float32 rounding of the math library calls."""
import math

import numpy as np
from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks

_ZERO = np.float32(0.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_THREE = np.float32(3.0)
_SIX = np.float32(6.0)
_INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))
_INV_SQRT_2PI = np.float32(1.0 / math.sqrt(2.0 * math.pi))
_GELU_K = np.float32(0.044715)
_GELU_3K = np.float32(3.0 * 0.044715)
_TWO_SQRT_2_OVER_PI = np.float32(2.0 * math.sqrt(2.0 / math.pi))
_SELU_SCALE = np.float32(1.0507009873554804934193349852946)
_SELU_SCALE_ALPHA = np.float32(1.0507009873554804934193349852946 * 1.6732632423543772848170429916717)


def _launch(kernel, inp, *args):
    kernel[blocks(inp.shape[0] * inp.shape[1]), THREADS](*args)


@cuda.jit(device=True, inline='always')  # inlined in numba's IR: compiles to PTX without a driver
def _sigmoid(x):
    # (sigmoid(x), sigmoid(x) * sigmoid(-x)) from e = exp(-|x|) <= 1
    e = math.exp(-abs(x))
    r = _ONE / (_ONE + e)
    return (r if x >= _ZERO else e * r), e * r * r


# ---- sigmoid, tanh, exponential ----------------------------------------------------------------------------------
@cuda.jit
def _sigmoid_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        out[b, c] = _sigmoid(inp[b, c])[0]


@cuda.jit
def _sigmoid_backward(dinp, dout, out):
    i = cuda.grid(1)
    C = out.shape[1]
    if i < out.shape[0] * C:
        b, c = i // C, i % C
        y = out[b, c]
        dinp[b, c] = dout[b, c] * (y * (_ONE - y))


def sigmoid_forward(out, inp):
    # out, inp: (B, C)
    _launch(_sigmoid_forward, inp, out, inp)


def sigmoid_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp is overwritten
    _launch(_sigmoid_backward, out, dinp, dout, out)


@cuda.jit
def _tanh_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        out[b, c] = math.tanh(inp[b, c])


@cuda.jit
def _tanh_backward(dinp, dout, out):
    i = cuda.grid(1)
    C = out.shape[1]
    if i < out.shape[0] * C:
        b, c = i // C, i % C
        y = out[b, c]
        dinp[b, c] = dout[b, c] * ((_ONE - y) * (_ONE + y))


def tanh_forward(out, inp):
    # out, inp: (B, C)
    _launch(_tanh_forward, inp, out, inp)


def tanh_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp is overwritten
    _launch(_tanh_backward, out, dinp, dout, out)


@cuda.jit
def _exponential_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        out[b, c] = math.exp(inp[b, c])


@cuda.jit
def _exponential_backward(dinp, dout, out):
    i = cuda.grid(1)
    C = out.shape[1]
    if i < out.shape[0] * C:
        b, c = i // C, i % C
        dinp[b, c] = dout[b, c] * out[b, c]


def exponential_forward(out, inp):
    # out, inp: (B, C)
    _launch(_exponential_forward, inp, out, inp)


def exponential_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp is overwritten
    _launch(_exponential_backward, out, dinp, dout, out)


# ---- gelu --------------------------------------------------------------------------------------------------------
@cuda.jit
def _gelu_forward(out, inp, approximate):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        if approximate:
            out[b, c] = x * _sigmoid(_TWO_SQRT_2_OVER_PI * (x + _GELU_K * x * x * x))[0]
        else:
            out[b, c] = _HALF * x * math.erfc(-x * _INV_SQRT2)


@cuda.jit
def _gelu_backward(dinp, dout, inp, approximate):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        if approximate:
            s, w = _sigmoid(_TWO_SQRT_2_OVER_PI * (x + _GELU_K * x * x * x))
            g = s
            if w > _ZERO:  # w is 0 once |x| > ~10: skips 0 * inf when x * x overflows
                g += x * w * (_TWO_SQRT_2_OVER_PI * (_ONE + _GELU_3K * x * x))
        else:
            g = _HALF * math.erfc(-x * _INV_SQRT2) + x * (_INV_SQRT_2PI * math.exp(-_HALF * x * x))
        dinp[b, c] = dout[b, c] * g


def gelu_forward(out, inp, approximate):
    # out, inp: (B, C); approximate: the tanh form
    _launch(_gelu_forward, inp, out, inp, bool(approximate))


def gelu_backward(dinp, dout, inp, approximate):
    # dinp, dout, inp: (B, C); dinp is overwritten
    _launch(_gelu_backward, inp, dinp, dout, inp, bool(approximate))


# ---- leaky_relu, elu, selu ---------------------------------------------------------------------------------------
@cuda.jit
def _leaky_relu_forward(out, inp, negative_slope):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        out[b, c] = x if x > _ZERO else negative_slope * x


@cuda.jit
def _leaky_relu_backward(dinp, dout, inp, negative_slope):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        d = dout[b, c]
        dinp[b, c] = d if inp[b, c] > _ZERO else negative_slope * d


def leaky_relu_forward(out, inp, negative_slope):
    # out, inp: (B, C)
    _launch(_leaky_relu_forward, inp, out, inp, float32(negative_slope))


def leaky_relu_backward(dinp, dout, inp, negative_slope):
    # dinp, dout, inp: (B, C); dinp is overwritten
    _launch(_leaky_relu_backward, inp, dinp, dout, inp, float32(negative_slope))


@cuda.jit
def _elu_forward(out, inp, alpha):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        out[b, c] = x if x > _ZERO else alpha * math.expm1(x)


@cuda.jit
def _elu_backward(dinp, dout, inp, out, alpha):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        d = dout[b, c]
        dinp[b, c] = d if inp[b, c] > _ZERO else d * (out[b, c] + alpha)


def elu_forward(out, inp, alpha):
    # out, inp: (B, C)
    _launch(_elu_forward, inp, out, inp, float32(alpha))


def elu_backward(dinp, dout, inp, out, alpha):
    # dinp, dout, inp, out: (B, C); dinp is overwritten
    _launch(_elu_backward, inp, dinp, dout, inp, out, float32(alpha))


@cuda.jit
def _selu_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        out[b, c] = _SELU_SCALE * x if x > _ZERO else _SELU_SCALE_ALPHA * math.expm1(x)


@cuda.jit
def _selu_backward(dinp, dout, inp, out):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        d = dout[b, c]
        dinp[b, c] = d * _SELU_SCALE if inp[b, c] > _ZERO else d * (out[b, c] + _SELU_SCALE_ALPHA)


def selu_forward(out, inp):
    # out, inp: (B, C)
    _launch(_selu_forward, inp, out, inp)


def selu_backward(dinp, dout, inp, out):
    # dinp, dout, inp, out: (B, C); dinp is overwritten
    _launch(_selu_backward, inp, dinp, dout, inp, out)


# ---- softplus, softsign, silu, hard_sigmoid ----------------------------------------------------------------------
@cuda.jit
def _softplus_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        out[b, c] = math.log1p(math.exp(-abs(x))) + (x if x > _ZERO else _ZERO)


@cuda.jit
def _softplus_backward(dinp, dout, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        dinp[b, c] = dout[b, c] * _sigmoid(inp[b, c])[0]


def softplus_forward(out, inp):
    # out, inp: (B, C)
    _launch(_softplus_forward, inp, out, inp)


def softplus_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp is overwritten
    _launch(_softplus_backward, inp, dinp, dout, inp)


@cuda.jit
def _softsign_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        out[b, c] = x / (_ONE + abs(x))


@cuda.jit
def _softsign_backward(dinp, dout, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        r = _ONE / (_ONE + abs(inp[b, c]))
        dinp[b, c] = dout[b, c] * (r * r)


def softsign_forward(out, inp):
    # out, inp: (B, C)
    _launch(_softsign_forward, inp, out, inp)


def softsign_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp is overwritten
    _launch(_softsign_backward, inp, dinp, dout, inp)


@cuda.jit
def _silu_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        out[b, c] = x * _sigmoid(x)[0]


@cuda.jit
def _silu_backward(dinp, dout, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        s, w = _sigmoid(x)
        dinp[b, c] = dout[b, c] * (s + x * w)


def silu_forward(out, inp):
    # out, inp: (B, C)
    _launch(_silu_forward, inp, out, inp)


def silu_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp is overwritten
    _launch(_silu_backward, inp, dinp, dout, inp)


@cuda.jit
def _hard_sigmoid_forward(out, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        out[b, c] = min(max(inp[b, c] + _THREE, _ZERO), _SIX) / _SIX


@cuda.jit
def _hard_sigmoid_backward(dinp, dout, inp):
    i = cuda.grid(1)
    C = inp.shape[1]
    if i < inp.shape[0] * C:
        b, c = i // C, i % C
        x = inp[b, c]
        dinp[b, c] = dout[b, c] / _SIX if -_THREE < x < _THREE else _ZERO


def hard_sigmoid_forward(out, inp):
    # out, inp: (B, C)
    _launch(_hard_sigmoid_forward, inp, out, inp)


def hard_sigmoid_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp is overwritten
    _launch(_hard_sigmoid_backward, inp, dinp, dout, inp)
