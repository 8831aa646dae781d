"""Dropout's counter-based masks against a pure-Python splitmix64, the kept fraction, seeds, the backward
against the analytic gradient and central differences, and 1 against 2 threads."""
import numba
import numpy as np
import pytest

from numbanet.kernels.cpu import dropout
from tests.helpers import check_grad

SHAPES = [(7, 13), (1, 5), (33, 3)]
M64 = (1 << 64) - 1


def reference_mask(shape, rate, seed):
    """splitmix64 of seed + (i + 1) * golden ratio in Python integers, top 24 bits over 2**24."""
    mask = np.empty(shape[0] * shape[1], np.float32)
    scale = np.float32(1.0 / (1.0 - rate))
    for i in range(mask.size):
        z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        mask[i] = scale if (z >> 40) / 2 ** 24 >= rate else 0
    return mask.reshape(shape)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('seed', [0, 12345, 2 ** 64 - 1])  # the last wraps at once
def test_mask_is_splitmix64(rng, shape, seed):
    x = rng.standard_normal(shape).astype(np.float32)
    out, mask = np.empty_like(x), np.empty_like(x)
    dropout.dropout_forward(out, mask, x, 0.3, np.uint64(seed))
    want = reference_mask(shape, 0.3, seed)
    np.testing.assert_array_equal(mask, want)
    np.testing.assert_array_equal(out, x * want)


def test_kept_fraction_and_scale(rng):
    x = np.ones((1000, 1001), np.float32)
    out, mask = np.empty_like(x), np.empty_like(x)
    for rate in (0.1, 0.5, 0.9):
        dropout.dropout_forward(out, mask, x, rate, np.uint64(7))
        kept = mask != 0
        assert abs(kept.mean() - (1 - rate)) < 3e-3  # 6 standard deviations or more
        assert (mask[kept] == np.float32(1 / (1 - rate))).all()
        assert abs(out.mean() - 1) < 1e-2  # inverted dropout keeps the expected value
        # rows and columns are not correlated (a generator that ignored part of i would show stripes)
        assert abs(kept.mean(0).std() - np.sqrt(rate * (1 - rate) / 1000)) < 0.1 * np.sqrt(rate * (1 - rate) / 1000)


def test_seeds(rng):
    x = rng.standard_normal((64, 33)).astype(np.float32)
    masks = []
    for seed in (1, 2, 2 ** 63, 1):
        out, mask = np.empty_like(x), np.empty_like(x)
        dropout.dropout_forward(out, mask, x, 0.5, np.uint64(seed))
        masks.append(mask)
    assert not (masks[0] == masks[1]).all() and not (masks[1] == masks[2]).all()
    assert ((masks[0] != 0) == (masks[1] != 0)).mean() < 0.6  # unrelated, not shifted copies
    np.testing.assert_array_equal(masks[0], masks[3])


def test_rate_zero_keeps_everything(rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    out, mask = np.empty_like(x), np.empty_like(x)
    dropout.dropout_forward(out, mask, x, 0.0, np.uint64(3))
    np.testing.assert_array_equal(mask, 1)
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize('shape', SHAPES)
def test_backward(rng, shape):
    x = rng.standard_normal(shape)
    out, mask = np.empty_like(x), np.empty_like(x)
    dropout.dropout_forward(out, mask, x, 0.4, np.uint64(99))
    R = rng.standard_normal(shape)
    dx = np.full_like(x, np.nan)
    dropout.dropout_backward(dx, R, mask)
    np.testing.assert_array_equal(dx, R * mask)

    def loss():
        dropout.dropout_forward(out, mask, x, 0.4, np.uint64(99))  # the same seed: the same mask
        return float((out * R).sum())
    check_grad(loss, x, dx, rng, eps=1e-2, rtol=1e-9, atol=1e-12)  # linear in x: a large step is exact


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason='needs two threads')
def test_same_bits_on_one_and_two_threads(rng, monkeypatch):
    x = rng.standard_normal((301, 67)).astype(np.float32)
    want = reference_mask(x.shape, 0.25, 2 ** 64 - 3)
    monkeypatch.setattr(dropout, 'PARALLEL_MIN', 0)
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            out, mask = np.empty_like(x), np.empty_like(x)
            dropout.dropout_forward(out, mask, x, 0.25, np.uint64(2 ** 64 - 3))
            np.testing.assert_array_equal(mask, want)
            np.testing.assert_array_equal(out, x * want)
    finally:
        numba.set_num_threads(before)
