"""log_cosh_forward and log_cosh_backward against numpy (log(2 cosh e) - log 2, by logaddexp) and central
differences; finite where cosh overflows."""
import warnings

import numpy as np
import pytest

from numbanet.kernels.cpu import log_cosh as k
from tests.helpers import check_grad

SHAPES = [(1, 1), (1, 5), (7, 13), (33, 3)]


def reference(p, y):
    e = p.astype(np.float64) - y
    return float((np.logaddexp(e, -e) - np.log(2)).mean(1).sum())


@pytest.mark.parametrize('shape', SHAPES)
def test_log_cosh(rng, shape):
    B, C = shape
    y = rng.standard_normal(shape).astype(np.float32)
    p = (y + rng.standard_normal(shape) * 3).astype(np.float32)
    total = k.log_cosh_forward(p, y)
    assert total == pytest.approx(reference(p, y), rel=1e-10)
    e = p.astype(np.float64) - y
    assert total == pytest.approx(np.log(np.cosh(e)).mean(1).sum(), rel=1e-10)
    dp = np.empty_like(p)
    k.log_cosh_backward(dp, p, y)
    np.testing.assert_allclose(dp, np.tanh(e) / (B * C), rtol=1e-6, atol=1e-12)

    p64, y64 = p.astype(np.float64), y.astype(np.float64)
    dp64 = np.empty_like(p64)
    k.log_cosh_backward(dp64, p64, y64)
    np.testing.assert_allclose(dp64, np.tanh(p64 - y64) / (B * C), rtol=1e-12, atol=1e-17)
    check_grad(lambda: k.log_cosh_forward(p64, y64) / B, p64, dp64, rng, eps=1e-5, rtol=1e-5, atol=1e-10)


def test_log_cosh_extremes():
    # cosh overflows float64 beyond |e| ~ 710; the loss there is |e| - log 2, the gradient +-1 / (B C).
    big = float(np.finfo(np.float32).max)
    p = np.array([[1e4, -1e4, big, -big, 0.0, 1e-4]], np.float32)
    y = np.zeros_like(p)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        total = k.log_cosh_forward(p, y)
    e = p.astype(np.float64)
    want = (np.abs(e[0, :4]).sum() - 4 * np.log(2) + np.log(np.cosh(e[0, 5]))) / 6
    assert np.isfinite(total) and total == pytest.approx(want, rel=1e-12)
    assert total == pytest.approx(reference(p, y), rel=1e-12)
    dp = np.empty_like(p)
    k.log_cosh_backward(dp, p, y)
    np.testing.assert_allclose(dp, np.tanh(e) / 6, rtol=1e-6)
    assert k.log_cosh_forward(p[:, 4:5], y[:, 4:5]) == 0.0
