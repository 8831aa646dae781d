"""binary_crossentropy_fused and _forward (from logits) against numpy and central differences; the same loss
from both, probs = sigmoid(logits), and finite for logits of 1e4 and float32's largest."""
import warnings

import numpy as np
import pytest

from numbanet.kernels.cpu import binary_crossentropy as k
from tests.helpers import check_grad

SHAPES = [(1, 1), (1, 5), (7, 13), (33, 3)]


def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def reference(z, y):
    # Keras: mean over C of max(z, 0) - z y + log1p(exp(-|z|)); summed over the batch.
    z, y = z.astype(np.float64), y.astype(np.float64)
    return float((np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(1).sum())


def data(rng, shape, soft):
    z = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = rng.random(shape) if soft else (rng.random(shape) > 0.5)
    return z, y.astype(np.float32)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('soft', [False, True])
def test_binary_crossentropy(rng, shape, soft):
    B, C = shape
    z, y = data(rng, shape, soft)
    probs, dz = np.empty_like(z), np.empty_like(z)
    total = k.binary_crossentropy_forward(probs, z, y)
    assert isinstance(total, float)
    assert total == pytest.approx(reference(z, y), rel=1e-10)
    np.testing.assert_allclose(probs, sigmoid(z.astype(np.float64)), rtol=1e-6, atol=1e-12)
    assert k.binary_crossentropy_fused(dz, z, y) == total  # the same sum, in the same order
    want = (sigmoid(z.astype(np.float64)) - y) / (B * C)
    np.testing.assert_allclose(dz, want, rtol=1e-6, atol=1e-12)

    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    dz64, probs64 = np.empty_like(z64), np.empty_like(z64)
    k.binary_crossentropy_fused(dz64, z64, y64)
    np.testing.assert_allclose(dz64, want, rtol=1e-12, atol=1e-17)
    check_grad(lambda: k.binary_crossentropy_forward(probs64, z64, y64) / B, z64, dz64, rng, eps=1e-6, rtol=1e-5,
               atol=1e-10)


def test_binary_crossentropy_is_stable_for_extreme_logits():
    big = float(np.finfo(np.float32).max)
    z = np.array([[1e4, -1e4, 1e4, -1e4, 0.0], [big, -big, big, -big, 88.0],
                  [-104.0, 40.0, -40.0, 1e4, -big]], np.float32)
    y = np.array([[1, 0, 0, 1, 1], [1, 0, 0, 1, 0.5], [0, 1, 0.5, 0.25, 1]], np.float32)
    probs, dz = np.empty_like(z), np.empty_like(z)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        total = k.binary_crossentropy_forward(probs, z, y)
        assert k.binary_crossentropy_fused(dz, z, y) == total
    assert np.isfinite(total) and total == pytest.approx(reference(z, y), rel=1e-10)
    # Row 0: right, wrong by 1e4, wrong by 1e4, right, log 2 => (2e4 + log 2) / 5.
    z64 = z.astype(np.float64)
    rows = np.maximum(z64, 0) - z64 * y + np.log1p(np.exp(-np.abs(z64)))
    assert rows[0].mean() == pytest.approx((2e4 + np.log(2)) / 5, rel=1e-12)
    assert np.all(np.isfinite(probs)) and np.all(np.isfinite(dz))
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_array_equal(probs[0, :4], [1, 0, 1, 0])
    np.testing.assert_allclose(dz, (sigmoid(z64) - y) / z.size, rtol=1e-6, atol=1e-12)


def test_binary_crossentropy_nan_logit_gives_a_nan_loss():
    z = np.array([[0.5, np.nan]], np.float32)
    y = np.array([[1, 0]], np.float32)
    dz = np.empty_like(z)
    assert np.isnan(k.binary_crossentropy_fused(dz, z, y))
    assert np.isnan(k.binary_crossentropy_forward(np.empty_like(z), z, y))
