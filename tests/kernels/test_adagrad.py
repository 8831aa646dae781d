"""adagrad_update against Keras 3's Adagrad over 20 steps, on a size run by one thread and one split
between threads."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers.keras_optimizers import KerasOptimizer


@pytest.mark.parametrize('n', [1001, 40_001])
def test_adagrad_matches_keras(rng, n):
    lr, eps = 0.05, 1e-7
    p = rng.standard_normal(n).astype(np.float32)
    accumulator = np.full(n, 0.1, np.float32)
    want, ref = p.astype(np.float64), KerasOptimizer('adagrad', lr)
    for _ in range(20):
        g = rng.standard_normal(n).astype(np.float32)
        k.adagrad_update(p, accumulator, g, lr, eps)
        ref.step([want], [g])
    np.testing.assert_allclose(p, want, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(accumulator, ref.slot(0, 'accumulator'), rtol=2e-6)
