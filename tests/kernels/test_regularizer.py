"""The L1/L2 penalty and its gradient against numpy and central differences."""
import numpy as np
import pytest

from numbanet.kernels.cpu import regularizer as reg
from tests.helpers import check_grad


@pytest.mark.parametrize('size', [0, 1, 7, 13, 1001])
@pytest.mark.parametrize('l1,l2', [(0.01, 0.0), (0.0, 0.02), (0.003, 0.5)])
def test_forward(rng, size, l1, l2):
    w = rng.standard_normal(size).astype(np.float32)
    wd = w.astype(np.float64)
    got = reg.regularizer_forward(w, l1, l2)
    assert isinstance(got, float)
    assert got == pytest.approx(l1 * np.abs(wd).sum() + l2 * (wd ** 2).sum(), rel=1e-13, abs=1e-300)


@pytest.mark.parametrize('size', [1, 7, 1001])
@pytest.mark.parametrize('l1,l2', [(0.01, 0.0), (0.0, 0.02), (0.003, 0.5)])
def test_backward(rng, size, l1, l2):
    w = rng.standard_normal(size)
    w[np.abs(w) < 1e-3] = 0.5  # keep central differences off the kink of |w| at 0
    dw0 = rng.standard_normal(size)
    dw = dw0.copy()
    reg.regularizer_backward(dw, w, l1, l2)
    np.testing.assert_allclose(dw - dw0, l1 * np.sign(w) + 2 * l2 * w, rtol=1e-12, atol=1e-15)  # accumulated
    # Quadratic away from 0, so central differences are exact but for rounding: a step of 1e-4 keeps it small.
    check_grad(lambda: reg.regularizer_forward(w, l1, l2), w, dw - dw0, rng, eps=1e-4, rtol=1e-6, atol=1e-8)


def test_float32_backward_and_sign_edge_cases():
    w = np.array([0.0, -0.0, 2.0, -3.0, np.nan], np.float32)
    dw = np.ones(5, np.float32)
    reg.regularizer_backward(dw, w, 0.5, 0.25)
    np.testing.assert_array_equal(dw[:4], [1.0, 1.0, 1 + 0.5 + 1.0, 1 - 0.5 - 1.5])  # sign(0) = 0
    assert np.isnan(dw[4])  # a NaN weight is not hidden, even where l2 is 0
    dw = np.ones(5, np.float32)
    reg.regularizer_backward(dw, w, 0.5, 0.0)
    assert np.isnan(dw[4])
