"""add_forward and add_backward against numpy and central differences."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import SHAPES, check_grad


@pytest.mark.parametrize('shape', SHAPES)
def test_add(rng, shape):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    out = np.empty_like(a)
    k.add_forward(out, a, b)
    np.testing.assert_array_equal(out, a + b)
    R = rng.standard_normal(shape)
    da = np.empty_like(a)
    k.add_backward(da, R)
    np.testing.assert_array_equal(da, R)
    check_grad(lambda: (k.add_forward(out, a, b), float((out * R).sum()))[1], a, da, rng, eps=1e-6,
               rtol=1e-6, atol=1e-9)
