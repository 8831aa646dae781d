"""sgd_update against Keras's formulas: plain, momentum, Nesterov."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k


@pytest.mark.parametrize('momentum,nesterov', [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_update_matches_keras_formulas(rng, momentum, nesterov):
    p = rng.standard_normal(1001)
    vel = rng.standard_normal(1001) * 0.1
    g = rng.standard_normal(1001)
    lr = 0.05
    p_ref, v_ref = p.copy(), vel.copy()
    if momentum == 0:
        p_ref -= lr * g
    else:
        v_ref = momentum * v_ref - lr * g
        p_ref = p_ref + (momentum * v_ref - lr * g if nesterov else v_ref)
    k.sgd_update(p, vel, g, lr, momentum, nesterov)
    np.testing.assert_allclose(p, p_ref, rtol=1e-12, atol=1e-14)
    if momentum:
        np.testing.assert_allclose(vel, v_ref, rtol=1e-12)
