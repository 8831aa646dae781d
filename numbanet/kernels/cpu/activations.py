"""Keras's element-wise activations (keras.activations), forward and backward. Outputs must not overlap
inputs (see relu.py); every backward overwrites dinp, since activations own no parameters.

Arithmetic stays in float32: the constants below are float32 (a bare 0.5 in numba is float64 and would
widen every expression it touches). Nothing overflows for finite inputs, except where the answer itself
does not fit (exponential for x > 88.7, selu for x > 3.24e38):
- sigmoid and its derivative come from exp(-|x|), so the exponent is never positive;
- softplus is log1p(exp(-|x|)) + max(x, 0); elu and selu use expm1, accurate near 0;
- exact gelu uses erfc(-x / sqrt 2) for 1 + erf(x / sqrt 2), which keeps its tiny values for x << 0;
  approximate gelu uses 1 + tanh(u) = 2 sigmoid(2u), likewise.
At a kink the gradient is the left one (x <= 0), as for relu: leaky_relu gives negative_slope at 0,
elu alpha, selu scale * alpha; hard_sigmoid's gradient is 0 at -3 and 3.
Backwards that take `out` (sigmoid, tanh, exponential, elu, selu) lose float32 precision where the
derivative is tiny next to out, e.g. sigmoid'(x) for x > 10: an absolute error of an ulp of out.
No fastmath flags: the loops are dominated by libm calls (exp, expm1, erfc, tanh), and the tails rely on
inf and 0 behaving as IEEE says (e.g. sigmoid(-1e30) = 0 * 1).
"""
import math

import numpy as np

from numbanet.kernels.cpu._jit import njit

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
# Keras's selu constants (Klambauer et al. 2017) at the precision Keras writes them; scale * alpha is
# rounded to float32 once.
_SELU_SCALE = np.float32(1.0507009873554804934193349852946)
_SELU_SCALE_ALPHA = np.float32(1.0507009873554804934193349852946 * 1.6732632423543772848170429916717)


@njit(cache=True, error_model='numpy')
def _sigmoid(x):
    # (sigmoid(x), sigmoid(x) * sigmoid(-x)) for a scalar, from e = exp(-|x|) <= 1: for x >= 0 they are
    # 1 / (1 + e) and e / (1 + e)^2; for x < 0, e / (1 + e) and the same product.
    e = math.exp(-abs(x))
    r = _ONE / (_ONE + e)
    return (r if x >= _ZERO else e * r), e * r * r


# ---- sigmoid, tanh, exponential: the backward needs only the output ----------------------------------------------
@njit(cache=True, error_model='numpy')
def sigmoid_forward(out, inp):
    # out, inp: (B, C)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            out[b, c] = _sigmoid(inp[b, c])[0]


@njit(cache=True)
def sigmoid_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp = dout * out * (1 - out)
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            y = out[b, c]
            dinp[b, c] = dout[b, c] * (y * (_ONE - y))


@njit(cache=True)
def tanh_forward(out, inp):
    # out, inp: (B, C)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            out[b, c] = math.tanh(inp[b, c])


@njit(cache=True)
def tanh_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp = dout * (1 - out^2), as (1 - out)(1 + out): one rounding fewer
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            y = out[b, c]
            dinp[b, c] = dout[b, c] * ((_ONE - y) * (_ONE + y))


@njit(cache=True)
def exponential_forward(out, inp):
    # out, inp: (B, C); overflows to inf for x > 88.72, as exp does in float32
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            out[b, c] = math.exp(inp[b, c])


@njit(cache=True)
def exponential_backward(dinp, dout, out):
    # dinp, dout, out: (B, C); dinp = dout * out
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            dinp[b, c] = dout[b, c] * out[b, c]


# ---- gelu --------------------------------------------------------------------------------------------------------
@njit(cache=True, error_model='numpy')
def gelu_forward(out, inp, approximate):
    # out, inp: (B, C). Exact: 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2).
    # Approximate: 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            if approximate:
                out[b, c] = x * _sigmoid(_TWO_SQRT_2_OVER_PI * (x + _GELU_K * x * x * x))[0]
            else:
                out[b, c] = _HALF * x * math.erfc(-x * _INV_SQRT2)


@njit(cache=True, error_model='numpy')
def gelu_backward(dinp, dout, inp, approximate):
    # dinp, dout, inp: (B, C). Exact: Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
    # Approximate: s + x s (1 - s) 2u', s = sigmoid(2u), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            if approximate:
                s, w = _sigmoid(_TWO_SQRT_2_OVER_PI * (x + _GELU_K * x * x * x))
                g = s
                if w > _ZERO:  # w is 0 once |x| > ~10: skips 0 * inf when x * x overflows
                    g += x * w * (_TWO_SQRT_2_OVER_PI * (_ONE + _GELU_3K * x * x))
            else:
                g = _HALF * math.erfc(-x * _INV_SQRT2) + x * (_INV_SQRT_2PI * math.exp(-_HALF * x * x))
            dinp[b, c] = dout[b, c] * g


# ---- leaky_relu, elu, selu: linear above 0 -----------------------------------------------------------------------
@njit(cache=True)
def leaky_relu_forward(out, inp, negative_slope):
    # out, inp: (B, C); x if x > 0 else negative_slope * x
    a = np.float32(negative_slope)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            out[b, c] = x if x > _ZERO else a * x


@njit(cache=True)
def leaky_relu_backward(dinp, dout, inp, negative_slope):
    # dinp, dout, inp: (B, C); dinp = dout if x > 0 else negative_slope * dout
    a = np.float32(negative_slope)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            d = dout[b, c]
            dinp[b, c] = d if inp[b, c] > _ZERO else a * d


@njit(cache=True)
def elu_forward(out, inp, alpha):
    # out, inp: (B, C); x if x > 0 else alpha (exp(x) - 1)
    a = np.float32(alpha)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            out[b, c] = x if x > _ZERO else a * math.expm1(x)


@njit(cache=True)
def elu_backward(dinp, dout, inp, out, alpha):
    # dinp, dout, inp, out: (B, C); dinp = dout if x > 0 else dout * alpha exp(x) = dout * (out + alpha)
    a = np.float32(alpha)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            d = dout[b, c]
            dinp[b, c] = d if inp[b, c] > _ZERO else d * (out[b, c] + a)


@njit(cache=True)
def selu_forward(out, inp):
    # out, inp: (B, C); scale * elu(x, alpha) with Keras's alpha and scale
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            out[b, c] = _SELU_SCALE * x if x > _ZERO else _SELU_SCALE_ALPHA * math.expm1(x)


@njit(cache=True)
def selu_backward(dinp, dout, inp, out):
    # dinp, dout, inp, out: (B, C); dinp = dout * scale if x > 0 else dout * (out + scale alpha)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            d = dout[b, c]
            dinp[b, c] = d * _SELU_SCALE if inp[b, c] > _ZERO else d * (out[b, c] + _SELU_SCALE_ALPHA)


# ---- softplus, softsign, silu, hard_sigmoid: the backward needs only the input -----------------------------------
@njit(cache=True, error_model='numpy')
def softplus_forward(out, inp):
    # out, inp: (B, C); log(1 + exp(x)) = log1p(exp(-|x|)) + max(x, 0)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            out[b, c] = math.log1p(math.exp(-abs(x))) + (x if x > _ZERO else _ZERO)


@njit(cache=True, error_model='numpy')
def softplus_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp = dout * sigmoid(x)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            dinp[b, c] = dout[b, c] * _sigmoid(inp[b, c])[0]


@njit(cache=True, error_model='numpy')
def softsign_forward(out, inp):
    # out, inp: (B, C); x / (1 + |x|)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            out[b, c] = x / (_ONE + abs(x))


@njit(cache=True, error_model='numpy')
def softsign_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp = dout / (1 + |x|)^2, as r * r with r = 1 / (1 + |x|) so nothing overflows
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            r = _ONE / (_ONE + abs(inp[b, c]))
            dinp[b, c] = dout[b, c] * (r * r)


@njit(cache=True, error_model='numpy')
def silu_forward(out, inp):
    # out, inp: (B, C); x * sigmoid(x)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            out[b, c] = x * _sigmoid(x)[0]


@njit(cache=True, error_model='numpy')
def silu_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp = dout * (s + x s (1 - s)), s = sigmoid(x)
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            s, w = _sigmoid(x)
            dinp[b, c] = dout[b, c] * (s + x * w)


@njit(cache=True, error_model='numpy')
def hard_sigmoid_forward(out, inp):
    # out, inp: (B, C); relu6(x + 3) / 6: 0 below -3, 1 above 3
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            out[b, c] = min(max(inp[b, c] + _THREE, _ZERO), _SIX) / _SIX


@njit(cache=True, error_model='numpy')
def hard_sigmoid_backward(dinp, dout, inp):
    # dinp, dout, inp: (B, C); dinp = dout / 6 for -3 < x < 3, else 0
    for b in range(inp.shape[0]):
        for c in range(inp.shape[1]):
            x = inp[b, c]
            dinp[b, c] = dout[b, c] / _SIX if -_THREE < x < _THREE else _ZERO
