"""Decaying optimizer state is stored without subnormals (kernels/cpu/_flush.py): a value that would fall below
float32's smallest normal number is stored as 0, a larger one is stored as computed, and a NaN gradient is
still refused by the check rather than flushed away. The simulator twin is tests/gpu/test_optimizers_cuda.py."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers.subnormal_cases import CASES, KEPT

N = 37
NORMAL = np.float32(1.1760e-38)  # just above float32's tiny: every decay rate here takes it below


def _state(names, value):
    return {n: np.full(N, value, np.float32) for n in names}


@pytest.mark.parametrize('name', sorted(CASES))
def test_state_decaying_below_normal_is_stored_as_zero(name):
    names, call = CASES[name]
    s = _state(names, NORMAL)
    p = np.linspace(-1, 1, N).astype(np.float32)
    call(k, p, s, np.zeros(N, np.float32))
    for n in names:
        assert (s[n] == (NORMAL if n in KEPT else 0)).all(), (n, s[n][:3])
    assert np.isfinite(p).all()


@pytest.mark.parametrize('name', sorted(CASES))
def test_small_normal_state_is_kept(name):
    names, call = CASES[name]
    s = _state(names, 1e-30)
    call(k, np.zeros(N, np.float32), s, np.zeros(N, np.float32))
    for n in names:
        assert (s[n] > 1e-31).all() and (s[n] <= 1e-30).all(), (n, s[n][:3])


@pytest.mark.parametrize('name', sorted(CASES))
def test_nan_gradient_is_refused_not_flushed(name):
    names, call = CASES[name]
    s = _state(names, NORMAL)
    g = np.zeros(N, np.float32)
    g[N // 2] = np.nan
    flag = np.zeros(1, np.int32)
    call(k, np.zeros(N, np.float32), s, g, flag)
    assert flag[0] == 1
