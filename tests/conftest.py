import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def numeric_grad(f, x, eps, indices):
    """Central differences of the scalar f() with respect to x at the given flat indices."""
    flat = x.reshape(-1)
    out = []
    for i in indices:
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        out.append((fp - fm) / (2 * eps))
    return np.array(out)


def sample_indices(size, rng, count=25):
    return rng.choice(size, size=min(count, size), replace=False)


def check_grad(f, x, analytic, rng, eps, rtol, atol):
    """Compare analytic dF/dx with central differences at a sample of entries of x."""
    idx = sample_indices(x.size, rng)
    num = numeric_grad(f, x, eps, idx)
    np.testing.assert_allclose(analytic.reshape(-1)[idx], num, rtol=rtol, atol=atol)
