"""sgd_update against Keras 3's SGD over 20 steps: plain, momentum, Nesterov; in float32 and float64, on a
size run by one thread and one split between threads."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers.keras_optimizers import KerasOptimizer


@pytest.mark.parametrize('n', [1001, 40_001])
@pytest.mark.parametrize('momentum,nesterov', [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_sgd_matches_keras(rng, n, momentum, nesterov, dtype):
    lr = 0.05
    p = rng.standard_normal(n).astype(dtype)
    velocity = np.zeros(n, dtype)
    want, ref = p.astype(np.float64), KerasOptimizer('sgd', lr, momentum=momentum, nesterov=nesterov)
    for _ in range(20):
        g = rng.standard_normal(n).astype(dtype)
        k.sgd_update(p, velocity, g, lr, momentum, nesterov)
        ref.step([want], [g])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, want, rtol=tol, atol=tol)
    if momentum:
        np.testing.assert_allclose(velocity, ref.slot(0, 'velocity'), rtol=tol, atol=tol)
