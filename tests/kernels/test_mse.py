"""mse_forward and mse_backward against numpy and central differences."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import SHAPES, check_grad


@pytest.mark.parametrize('shape', SHAPES)
def test_mse(rng, shape):
    p = rng.standard_normal(shape)
    y = rng.standard_normal(shape)
    total = k.mse_forward(p, y)
    assert total == pytest.approx(((p - y) ** 2).mean(1).sum(), rel=1e-12)
    dp = np.empty_like(p)
    k.mse_backward(dp, p, y)
    np.testing.assert_allclose(dp, 2 * (p - y) / p.size, rtol=1e-12)
    # Quadratic, so central differences are exact but for rounding: a large step keeps that small.
    check_grad(lambda: k.mse_forward(p, y) / shape[0], p, dp, rng, eps=1e-2, rtol=1e-6, atol=1e-10)
