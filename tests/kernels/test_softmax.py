"""softmax_forward and softmax_backward against numpy and central differences (float64, so the
differences are precise), and stable for huge logits."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import SHAPES, check_grad, softmax


@pytest.mark.parametrize('shape', SHAPES)
def test_softmax(rng, shape):
    x = rng.standard_normal(shape) * 3
    out = np.empty_like(x)
    k.softmax_forward(out, x)
    np.testing.assert_allclose(out, softmax(x), rtol=1e-12, atol=1e-14)
    R = rng.standard_normal(shape)
    dx = np.empty_like(x)
    k.softmax_backward(dx, R, out)
    p = softmax(x)
    np.testing.assert_allclose(dx, p * (R - (R * p).sum(1, keepdims=True)), rtol=1e-10, atol=1e-12)

    def loss():
        k.softmax_forward(out, x)
        return float((out * R).sum())
    check_grad(loss, x, dx, rng, eps=1e-6, rtol=1e-5, atol=1e-8)


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], np.float32)
    out = np.empty_like(x)
    k.softmax_forward(out, x)
    np.testing.assert_allclose(out, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
