"""adamax_update against Keras 3's Adamax over 20 steps, on a size run by one thread and one split between
threads."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers.keras_optimizers import KerasOptimizer


@pytest.mark.parametrize('n', [1001, 40_001])
def test_adamax_matches_keras(rng, n):
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    p = rng.standard_normal(n).astype(np.float32)
    m, u = np.zeros(n, np.float32), np.zeros(n, np.float32)
    want, ref = p.astype(np.float64), KerasOptimizer('adamax', lr)
    for t in range(1, 21):
        g = rng.standard_normal(n).astype(np.float32)
        k.adamax_update(p, m, u, g, lr, b1, b2, eps, t)
        ref.step([want], [g])
    np.testing.assert_allclose(p, want, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(m, ref.slot(0, 'm'), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(u, ref.slot(0, 'u'), rtol=2e-6)
