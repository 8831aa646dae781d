"""Inverted dropout on the GPU. Twin of kernels/cpu/dropout.py: the same counter-based generator, so the
masks are bitwise those of the CPU for the same (seed, shape).

splitmix64's products and sums are formed here from 32-bit halves, so that no intermediate exceeds 64
bits: the result is the same value modulo 2**64 as the CPU's wrapping arithmetic, and under the simulator,
where these are numpy uint64 scalars that warn on overflow, nothing ever overflows.
"""
import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW = np.uint64(0xFFFFFFFF)
_ONE, _S27, _S30, _S31, _S32, _S40 = (np.uint64(s) for s in (1, 27, 30, 31, 32, 40))


@cuda.jit(device=True, inline='always')
def _mul(a, b):
    # a * b mod 2**64 for uint64 a, b. The low product of the halves fits 64 bits; of the cross products
    # only their low 32 bits reach the result.
    a0, a1, b0, b1 = a & _LOW, a >> _S32, b & _LOW, b >> _S32
    low = a0 * b0
    high = ((low >> _S32) + ((a1 * b0) & _LOW) + ((a0 * b1) & _LOW)) & _LOW
    return (high << _S32) | (low & _LOW)


@cuda.jit(device=True, inline='always')
def _add(a, b):
    # a + b mod 2**64 for uint64 a, b.
    low = (a & _LOW) + (b & _LOW)
    high = ((a >> _S32) + (b >> _S32) + (low >> _S32)) & _LOW
    return (high << _S32) | (low & _LOW)


@cuda.jit(device=True, inline='always')
def _uniform(seed, i):
    # seed: uint64; i: the element's flat index. A float64 in [0, 1) with 24 random bits.
    z = _add(seed, _mul(np.uint64(i) + _ONE, _GOLDEN))
    z = _mul(z ^ (z >> _S30), _MIX1)
    z = _mul(z ^ (z >> _S27), _MIX2)
    z = z ^ (z >> _S31)
    return np.float64(z >> _S40) * (1.0 / 16777216.0)


@cuda.jit
def _forward(out, mask, inp, rate, scale, seed):
    i = cuda.grid(1)
    R, C = inp.shape
    if i < R * C:
        r, c = i // C, i % C
        m = scale if _uniform(seed, i) >= rate else np.float32(0.0)
        mask[r, c] = m
        out[r, c] = inp[r, c] * m


@cuda.jit
def _backward(dinp, dout, mask):
    i = cuda.grid(1)
    R, C = dout.shape
    if i < R * C:
        r, c = i // C, i % C
        dinp[r, c] = dout[r, c] * mask[r, c]


def dropout_forward(out, mask, inp, rate, seed):
    # out, mask, inp: (R, C); rate in [0, 1); seed: np.uint64. mask = 1 / (1 - rate) where kept, else 0;
    # out = inp * mask.
    rate = float(rate)
    n = inp.shape[0] * inp.shape[1]
    _forward[blocks(n), THREADS](out, mask, inp, rate, np.float32(1.0 / (1.0 - rate)), np.uint64(seed))


def dropout_backward(dinp, dout, mask):
    # dinp, dout, mask: (R, C); dinp = dout * mask, overwritten.
    _backward[blocks(dout.shape[0] * dout.shape[1]), THREADS](dinp, dout, mask)
