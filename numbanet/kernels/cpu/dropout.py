"""Inverted dropout with a counter-based generator: element i of a step's (R, C) arrays (flat, row-major) is
kept when u(seed, i) >= rate, where u is the top 24 bits of splitmix64(seed + (i + 1) * golden ratio) over
2**24. A mask therefore depends only on (seed, i): the same bits on the CPU and the GPU and for any thread
count, with no generator state to keep and nothing allocated. Kept elements are scaled by 1 / (1 - rate),
so the expected output equals the input and inference needs no scaling.

The arithmetic is uint64 and wraps modulo 2**64 (numba's integers do; under NUMBA_DISABLE_JIT numpy warns
about the wrap but computes the same bits). The CUDA twin forms the same products from 32-bit halves so that
nothing overflows there, which keeps the simulator's numpy scalars quiet; on the CPU that costs 2x.
"""
import numba
import numpy as np

from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import bands

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_ONE, _S27, _S30, _S31, _S40 = (np.uint64(s) for s in (1, 27, 30, 31, 40))
PARALLEL_MIN = 1 << 18     # elements; below this a thread pool costs more than it saves (probes.md)


@njit(cache=True, inline='always')
def _uniform(seed, i):
    # seed: uint64; i: the element's flat index. Returns a float64 in [0, 1) with 24 random bits.
    z = seed + (np.uint64(i) + _ONE) * GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S40) * (1.0 / 16777216.0)


@njit(cache=True, error_model='numpy')
def _forward_rows(out, mask, inp, rate, seed, r0, r1):
    s = np.uint64(seed)
    scale = np.float32(1.0 / (1.0 - rate))
    C = inp.shape[1]
    for r in range(r0, r1):
        for c in range(C):
            m = scale if _uniform(s, r * C + c) >= rate else np.float32(0.0)
            mask[r, c] = m
            out[r, c] = inp[r, c] * m


def dropout_forward(out, mask, inp, rate, seed):
    # out, mask, inp: (R, C); rate in [0, 1); seed: np.uint64. mask = 1 / (1 - rate) where kept, else 0;
    # out = inp * mask.
    threads = numba.get_num_threads() if inp.size >= PARALLEL_MIN else 1
    if threads > 1:
        bands(_forward_rows, inp.shape[0], threads, out, mask, inp, rate, seed)
    else:
        _forward_rows(out, mask, inp, rate, seed, 0, inp.shape[0])


@njit(cache=True)
def dropout_backward(dinp, dout, mask):
    # dinp, dout, mask: (R, C); dinp = dout * mask, overwritten.
    for r in range(dout.shape[0]):
        for c in range(dout.shape[1]):
            dinp[r, c] = dout[r, c] * mask[r, c]
