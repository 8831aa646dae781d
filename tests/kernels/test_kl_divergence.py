"""kl_divergence_forward and kl_divergence_backward (Keras's clip to [1e-7, 1], sum over C) against numpy and
central differences; 0 gradient where pred is clipped; finite for zeros; NaN not hidden by the clip."""
import warnings

import numpy as np
import pytest

from numbanet.kernels.cpu import kl_divergence as k
from tests.helpers import check_grad, softmax

SHAPES = [(1, 1), (1, 5), (7, 13), (33, 3)]
EPS = 1e-7


def reference(p, y):
    y = np.clip(y.astype(np.float64), EPS, 1)
    q = np.clip(p.astype(np.float64), EPS, 1)
    return float((y * np.log(y / q)).sum())


def gradient(p, y):
    # of the mean loss: -clip(y) / p inside (1e-7, 1), 0 where pred is clipped
    p = p.astype(np.float64)
    inside = (p > EPS) & (p < 1)
    return np.where(inside, -np.clip(y.astype(np.float64), EPS, 1) / np.where(inside, p, 1), 0) / p.shape[0]


def data(rng, shape, soft):
    B, C = shape
    p = softmax(rng.standard_normal(shape)).astype(np.float32)
    y = softmax(rng.standard_normal(shape) * 2) if soft else np.eye(C)[rng.integers(0, C, B)]
    return p, y.astype(np.float32)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('soft', [False, True])
def test_kl_divergence(rng, shape, soft):
    B, C = shape
    p, y = data(rng, shape, soft)
    if C == 1:
        p[:] = 0.5  # softmax of one class is exactly 1: on the clip bound
    total = k.kl_divergence_forward(p, y)
    assert total == pytest.approx(reference(p, y), rel=1e-10)
    dp = np.empty_like(p)
    k.kl_divergence_backward(dp, p, y)
    np.testing.assert_allclose(dp, gradient(p, y), rtol=1e-6, atol=1e-12)

    p64, y64 = p.astype(np.float64), y.astype(np.float64)
    dp64 = np.empty_like(p64)
    k.kl_divergence_backward(dp64, p64, y64)
    np.testing.assert_allclose(dp64, gradient(p64, y64), rtol=1e-12, atol=1e-20)
    check_grad(lambda: k.kl_divergence_forward(p64, y64) / B, p64, dp64, rng, eps=1e-6, rtol=1e-5, atol=1e-8)


def test_kl_divergence_clips():
    # pred at or beyond either bound is clipped: its gradient is 0, and so are central differences away from it.
    p = np.array([[0.0, 1e-9, -0.5, 0.3, 0.2], [1.0, 1.5, 0.25, 0.5, 1e-7]], np.float32)
    y = np.array([[0.2, 0.3, 0.1, 0.4, 0.0], [0.5, 0.0, 0.25, 0.25, 2.0]], np.float32)  # 0 and 2: clipped too
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        total = k.kl_divergence_forward(p, y)
    assert np.isfinite(total) and total == pytest.approx(reference(p, y), rel=1e-10)
    dp = np.empty_like(p)
    k.kl_divergence_backward(dp, p, y)
    want = gradient(p, y)
    np.testing.assert_allclose(dp, want, rtol=1e-6, atol=1e-12)
    assert np.all(dp[0, :3] == 0) and dp[1, 0] == 0 and dp[1, 1] == 0
    assert dp[1, 4] == np.float32(-1 / (np.float64(np.float32(1e-7)) * 2))  # float32(1e-7) is just inside
    far = np.array([[-0.5, 1.5, 0.3, 0.6]])
    ty = np.array([[0.1, 0.2, 0.3, 0.4]])
    d = np.empty_like(far)
    k.kl_divergence_backward(d, far, ty)
    check_grad(lambda: k.kl_divergence_forward(far, ty), far, d, np.random.default_rng(0), eps=1e-6, rtol=1e-6,
               atol=1e-9)


def test_kl_divergence_of_zero_preds_is_finite_and_nan_is_kept():
    p = np.zeros((3, 4), np.float32)
    y = np.eye(4, dtype=np.float32)[[0, 1, 3]]
    # y = 1 at the label, 1e-7 elsewhere; p = 1e-7 everywhere: log(1 / 1e-7) a row
    assert k.kl_divergence_forward(p, y) == pytest.approx(3 * np.log(1e7), rel=1e-12)
    p[1, 2] = np.nan
    assert np.isnan(k.kl_divergence_forward(p, y))
    dp = np.empty_like(p)
    k.kl_divergence_backward(dp, p, y)
    assert np.isnan(dp[1, 2]) and np.all(dp[np.isfinite(p)] == 0)
