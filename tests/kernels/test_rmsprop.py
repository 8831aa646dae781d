"""rmsprop_update against Keras 3's RMSprop over 20 steps: plain, with momentum, centered, both; on a size
run by one thread and one split between threads."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers.keras_optimizers import KerasOptimizer


@pytest.mark.parametrize('n', [1001, 40_001])
@pytest.mark.parametrize('momentum,centered', [(0.0, False), (0.8, False), (0.0, True), (0.5, True)])
def test_rmsprop_matches_keras(rng, n, momentum, centered):
    lr, rho, eps = 1e-2, 0.9, 1e-7
    p = rng.standard_normal(n).astype(np.float32)
    velocity = np.zeros(n, np.float32)
    moment = np.zeros(n, np.float32) if momentum else None
    average = np.zeros(n, np.float32) if centered else None
    want, ref = p.astype(np.float64), KerasOptimizer('rmsprop', lr, momentum=momentum, centered=centered)
    for _ in range(20):
        g = rng.standard_normal(n).astype(np.float32)
        k.rmsprop_update(p, velocity, moment, average, g, lr, rho, momentum, eps)
        ref.step([want], [g])
    np.testing.assert_allclose(p, want, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(velocity, ref.slot(0, 'velocity'), rtol=2e-5, atol=1e-6)
    if momentum:
        np.testing.assert_allclose(moment, ref.slot(0, 'momentum'), rtol=2e-4, atol=1e-6)
    if centered:
        np.testing.assert_allclose(average, ref.slot(0, 'average'), rtol=2e-5, atol=1e-6)
