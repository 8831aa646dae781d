"""relu_forward and relu_backward against numpy and central differences (float64, so the
differences are precise)."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import SHAPES, check_grad


@pytest.mark.parametrize('shape', SHAPES)
def test_relu(rng, shape):
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink
    out = np.empty_like(x)
    k.relu_forward(out, x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    R = rng.standard_normal(shape)
    dx = np.empty_like(x)
    k.relu_backward(dx, R, out)
    np.testing.assert_array_equal(dx, R * (x > 0))

    def loss():
        k.relu_forward(out, x)
        return float((out * R).sum())
    check_grad(loss, x, dx, rng, eps=1e-6, rtol=1e-6, atol=1e-8)
