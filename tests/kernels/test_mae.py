"""mae_forward and mae_backward against numpy and central differences; 0 gradient where pred equals the target."""
import numpy as np
import pytest

from numbanet.kernels.cpu import mae as k
from tests.helpers import check_grad

SHAPES = [(1, 1), (1, 5), (7, 13), (33, 3)]


def data(rng, shape):
    # Errors at least 0.01 from 0 (the kink), and about one in five exactly 0.
    y = rng.standard_normal(shape).astype(np.float32)
    e = rng.uniform(0.01, 2, shape) * rng.choice([-1, 1], shape) * (rng.random(shape) > 0.2)
    return (y + e).astype(np.float32), y


@pytest.mark.parametrize('shape', SHAPES)
def test_mae(rng, shape):
    B, C = shape
    p, y = data(rng, shape)
    e = p.astype(np.float64) - y
    total = k.mae_forward(p, y)
    assert total == pytest.approx(np.abs(e).mean(1).sum(), rel=1e-10)
    dp = np.empty_like(p)
    k.mae_backward(dp, p, y)
    np.testing.assert_allclose(dp, np.sign(e) / (B * C), rtol=1e-7)
    assert np.all(dp[e == 0] == 0)

    p64, y64 = p.astype(np.float64), y.astype(np.float64)
    dp64 = np.empty_like(p64)
    k.mae_backward(dp64, p64, y64)
    np.testing.assert_array_equal(dp64, np.sign(p64 - y64) / (B * C))
    # Piecewise linear: central differences are exact but for rounding, with a step below every |error|.
    check_grad(lambda: k.mae_forward(p64, y64) / B, p64, dp64, rng, eps=1e-4, rtol=1e-7, atol=1e-12)


def test_mae_extremes_and_nan():
    big = float(np.finfo(np.float32).max)
    p = np.array([[big, -big, 0.0], [1e30, np.nan, 2.0]], np.float32)
    y = np.array([[-big, big, 0.0], [-1e30, 1.0, 3.0]], np.float32)
    assert k.mae_forward(p[:1], y[:1]) == pytest.approx(4 * big / 3, rel=1e-12)  # float64: no overflow
    dp = np.empty_like(p)
    k.mae_backward(dp, p, y)
    np.testing.assert_array_equal(dp[0], np.float32([1, -1, 0]) / np.float32(6))
    assert dp[1, 0] == np.float32(1 / 6) and np.isnan(dp[1, 1]) and dp[1, 2] == np.float32(-1 / 6)
    assert np.isnan(k.mae_forward(p, y))
