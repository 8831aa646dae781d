"""adam_update and adam_amsgrad_update against Keras 3's Adam over 20 steps: in float32 and float64, on a
size run by one thread and one split between threads."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers.keras_optimizers import KerasOptimizer


@pytest.mark.parametrize('n', [1001, 40_001])
@pytest.mark.parametrize('amsgrad', [False, True])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_adam_matches_keras(rng, n, amsgrad, dtype):
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    p = rng.standard_normal(n).astype(dtype)
    m, v, v_hat = (np.zeros(n, dtype) for _ in range(3))
    want, ref = p.astype(np.float64), KerasOptimizer('adam', lr, amsgrad=amsgrad)
    for t in range(1, 21):
        g = rng.standard_normal(n).astype(dtype) * (1 + 4 * (t % 3 == 0))  # v shrinks at times: v_hat matters
        if amsgrad:
            k.adam_amsgrad_update(p, m, v, v_hat, g, lr, b1, b2, eps, t)
        else:
            k.adam_update(p, m, v, g, lr, b1, b2, eps, t)
        ref.step([want], [g])
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(m, ref.slot(0, 'm'), rtol=tol, atol=tol)
    np.testing.assert_allclose(v, ref.slot(0, 'v'), rtol=tol, atol=tol)
    if amsgrad:
        np.testing.assert_allclose(v_hat, ref.slot(0, 'v_hat'), rtol=tol, atol=tol)
        assert (ref.slot(0, 'v_hat') > ref.slot(0, 'v')).any()  # the variant was exercised
