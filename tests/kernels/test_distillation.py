"""distillation_forward and distillation_backward against numpy and central differences."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import check_grad


def _distill_reference(s, t, y, T, a):
    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))
    hard = -(y * log_softmax(s)).sum()
    pt = np.exp(log_softmax(t / T))
    return a * hard + (1 - a) * T * T * (pt * (np.log(pt) - log_softmax(s / T))).sum()


@pytest.mark.parametrize('B,C', [(1, 10), (7, 13)])
@pytest.mark.parametrize('T,alpha', [(1.0, 0.5), (3.0, 0.1), (20.0, 0.0)])
def test_distillation_kernels_against_numpy_and_differences(rng, B, C, T, alpha):
    s, t = rng.standard_normal((B, C)) * 3, rng.standard_normal((B, C)) * 5
    s[0, 0] = 1e4 / T  # stable for large logits too
    y = np.eye(C)[rng.integers(0, C, B)]
    assert k.distillation_forward(s, t, y, T, alpha) == pytest.approx(_distill_reference(s, t, y, T, alpha), rel=1e-10)
    d = np.empty_like(s)
    k.distillation_backward(d, s, t, y, T, alpha)
    s[0, 0] = 0.5
    k.distillation_backward(d, s, t, y, T, alpha)
    check_grad(lambda: k.distillation_forward(s, t, y, T, alpha) / B, s, d, rng, eps=1e-6, rtol=1e-5, atol=1e-9)
