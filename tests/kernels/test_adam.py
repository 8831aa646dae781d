"""adam_update against Keras's formulas, in float32 and float64."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_adam_update_matches_keras_formulas(rng, dtype):
    n = 1001
    p = rng.standard_normal(n).astype(dtype)
    m = np.zeros(n, dtype)
    v = np.zeros(n, dtype)
    p_ref, m_ref, v_ref = p.astype(np.float64), np.zeros(n), np.zeros(n)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    for t in range(1, 6):
        g = rng.standard_normal(n).astype(dtype)
        k.adam_update(p, m, v, g, lr, b1, b2, eps, t)
        m_ref = b1 * m_ref + (1 - b1) * g
        v_ref = b2 * v_ref + (1 - b2) * g.astype(np.float64) ** 2
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p_ref -= alpha * m_ref / (np.sqrt(v_ref) + eps)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, p_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(m, m_ref, rtol=tol * 10, atol=tol)
