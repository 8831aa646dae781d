"""nadam_update against Keras 3's Nadam over 20 steps, on a size run by one thread and one split between
threads. The caller keeps the product of the momentum schedule, as the optimizer does."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from numbanet.kernels.bias_correction import nadam_momentum
from tests.helpers.keras_optimizers import KerasOptimizer


@pytest.mark.parametrize('n', [1001, 40_001])
def test_nadam_matches_keras(rng, n):
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    p = rng.standard_normal(n).astype(np.float32)
    m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
    want, ref = p.astype(np.float64), KerasOptimizer('nadam', lr)
    u_product = 1.0
    for t in range(1, 21):
        g = rng.standard_normal(n).astype(np.float32)
        u_product *= nadam_momentum(b1, t)
        k.nadam_update(p, m, v, g, lr, b1, b2, eps, t, u_product)
        ref.step([want], [g])
    assert u_product == pytest.approx(ref.u_product, rel=1e-12)
    np.testing.assert_allclose(p, want, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(m, ref.slot(0, 'm'), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(v, ref.slot(0, 'v'), rtol=2e-5, atol=1e-7)
