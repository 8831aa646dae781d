"""huber_forward and huber_backward (Keras's Huber) against numpy and central differences, errors on both
sides of delta and exactly at it."""
import numpy as np
import pytest

from numbanet.kernels.cpu import huber as k
from tests.helpers import check_grad

SHAPES = [(1, 1), (1, 5), (7, 13), (33, 3)]


def reference(p, y, delta):
    e = p.astype(np.float64) - y
    a = np.abs(e)
    return float(np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta).mean(1).sum())


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('delta', [1.0, 0.5, 2.5])
def test_huber(rng, shape, delta):
    B, C = shape
    y = rng.standard_normal(shape).astype(np.float32)
    p = (y + rng.standard_normal(shape) * 2 * delta).astype(np.float32)
    p.reshape(-1)[::4] = y.reshape(-1)[::4] + np.float32(delta)  # |e| == delta, exactly (float32-exact sums)
    p.reshape(-1)[0] = y.reshape(-1)[0] - np.float32(delta) if p.size > 1 else p.reshape(-1)[0]
    total = k.huber_forward(p, y, delta)
    assert total == pytest.approx(reference(p, y, delta), rel=1e-10)
    dp = np.empty_like(p)
    k.huber_backward(dp, p, y, delta)
    e = p.astype(np.float64) - y
    np.testing.assert_allclose(dp, np.clip(e, -delta, delta) / (B * C), rtol=1e-6, atol=1e-12)

    p64, y64 = p.astype(np.float64), y.astype(np.float64)
    dp64 = np.empty_like(p64)
    k.huber_backward(dp64, p64, y64, delta)
    np.testing.assert_allclose(dp64, np.clip(p64 - y64, -delta, delta) / (B * C), rtol=1e-12, atol=1e-17)
    check_grad(lambda: k.huber_forward(p64, y64, delta) / B, p64, dp64, rng, eps=1e-6, rtol=1e-5, atol=1e-10)


def test_huber_extremes():
    big = float(np.finfo(np.float32).max)
    p = np.array([[big, -big, 0.0, 1e20]], np.float32)
    y = np.array([[-big, big, 0.0, 0.0]], np.float32)
    total = k.huber_forward(p, y, 1.0)
    assert np.isfinite(total) and total == pytest.approx(reference(p, y, 1.0), rel=1e-12)
    dp = np.empty_like(p)
    k.huber_backward(dp, p, y, 1.0)
    np.testing.assert_array_equal(dp, np.array([[1, -1, 0, 1]], np.float32) / 4)
    p[0, 2] = np.nan
    assert np.isnan(k.huber_forward(p, y, 1.0))
    k.huber_backward(dp, p, y, 1.0)
    assert np.isnan(dp[0, 2])
