"""categorical_hinge_forward and categorical_hinge_backward (Keras's) against numpy and central differences;
the subgradient's argmax takes the first of ties; rows with no loss get no gradient."""
import numpy as np
import pytest

from numbanet.kernels.cpu import categorical_hinge as k
from tests.helpers import check_grad

SHAPES = [(1, 1), (1, 5), (7, 13), (33, 3)]


def reference(p, y):
    p, y = p.astype(np.float64), y.astype(np.float64)
    pos = (y * p).sum(1)
    neg = ((1 - y) * p).max(1)
    return np.maximum(neg - pos + 1, 0)


def subgradient(p, y):
    p, y = p.astype(np.float64), y.astype(np.float64)
    B = p.shape[0]
    g = -y / B
    arg = ((1 - y) * p).argmax(1)  # the first on ties
    g[np.arange(B), arg] += (1 - y[np.arange(B), arg]) / B
    g[reference(p, y) <= 0] = 0
    return g


def data(rng, shape, soft):
    B, C = shape
    labels = rng.integers(0, C, B)
    y = rng.dirichlet(np.ones(C), B) if soft else np.eye(C)[labels]
    p = rng.standard_normal(shape)
    p[np.arange(B), labels] += rng.choice([0.0, 4.0], B)  # some rows right by a margin: no loss there
    return p.astype(np.float32), y.astype(np.float32)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('soft', [False, True])
def test_categorical_hinge(rng, shape, soft):
    B = shape[0]
    p, y = data(rng, shape, soft)
    total = k.categorical_hinge_forward(p, y)
    assert total == pytest.approx(reference(p, y).sum(), rel=1e-10, abs=1e-12)
    dp = np.empty_like(p)
    k.categorical_hinge_backward(dp, p, y)
    np.testing.assert_allclose(dp, subgradient(p, y), rtol=1e-6, atol=1e-12)

    p64, y64 = p.astype(np.float64), y.astype(np.float64)
    dp64 = np.empty_like(p64)
    k.categorical_hinge_backward(dp64, p64, y64)
    np.testing.assert_allclose(dp64, subgradient(p64, y64), rtol=1e-12, atol=1e-17)
    # Piecewise linear: exact central differences away from the kinks.
    check_grad(lambda: k.categorical_hinge_forward(p64, y64) / B, p64, dp64, rng, eps=1e-6, rtol=1e-6, atol=1e-9)


def test_categorical_hinge_ties_negatives_and_the_kink():
    p = np.array([[0.5, 0.2, 0.5, 0.1],     # tie for neg at 0 and 2: the first takes the gradient
                  [-1.0, -2.0, -3.0, -4.0],  # (1 - y) p is largest (0) at the label itself: no +1 anywhere
                  [1.0, 0.0, 0.0, 0.0],      # margin exactly 0: no loss, no gradient
                  [3.0, -1.0, -1.0, -1.0]], np.float32)  # right by more than the margin
    y = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], np.float32)
    assert k.categorical_hinge_forward(p, y) == pytest.approx(1.3 + 2.0, rel=1e-7)
    dp = np.empty_like(p)
    k.categorical_hinge_backward(dp, p, y)
    want = np.array([[1, -1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]) / 4
    np.testing.assert_array_equal(dp, want.astype(np.float32))
    np.testing.assert_allclose(dp, subgradient(p, y))


def test_categorical_hinge_extremes_and_nan():
    big = float(np.finfo(np.float32).max)
    p = np.array([[big, -big, 0.0], [-big, big, 1e30]], np.float32)
    y = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
    total = k.categorical_hinge_forward(p, y)
    assert np.isfinite(total) and total == pytest.approx(reference(p, y).sum(), rel=1e-12)
    dp = np.empty_like(p)
    k.categorical_hinge_backward(dp, p, y)
    np.testing.assert_array_equal(dp, np.array([[1, -1, 0], [-1, 1, 0]], np.float32) / 2)
    p[1, 2] = np.nan
    assert np.isnan(k.categorical_hinge_forward(p, y))
