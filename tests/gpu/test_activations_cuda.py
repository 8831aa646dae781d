"""Every CUDA activation kernel (kernels/cuda/activations.py) against its CPU twin on the same float32 inputs,
tiny odd shapes (the simulator runs one Python thread per GPU thread)."""
import inspect

import numpy as np
import pytest
from numba import cuda

from numbanet.kernels.cpu import activations as cpu_act
from numbanet.kernels.cuda import activations as gpu_act
from tests.helpers.gpu import dev as to_device

CASES = [('sigmoid', {}), ('tanh', {}), ('exponential', {}), ('gelu', {'approximate': False}),
         ('gelu', {'approximate': True}), ('leaky_relu', {'negative_slope': 0.2}), ('elu', {'alpha': 0.7}),
         ('selu', {}), ('softplus', {}), ('softsign', {}), ('silu', {}), ('hard_sigmoid', {})]
IDS = [name + ''.join(f'-{v}' for v in params.values()) for name, params in CASES]
# Both kinks, both sides of 0, and the far tails (exp(80) still fits in float32).
SPECIAL = [0.0, -80.0, 80.0, -3.0, 3.0, -1e-4, 1e-4, -10.0, 10.0]


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def call(fn, **named):
    """Call a kernel with its arrays and parameters by name (the CPU twin's py_func or the CUDA wrapper)."""
    return fn(*[named[p] for p in inspect.signature(getattr(fn, 'py_func', fn)).parameters])


def test_the_cases_cover_every_cuda_function():
    public = {n for n in dir(gpu_act) if n.endswith(('_forward', '_backward')) and not n.startswith('_')}
    assert public == {f'{name}_{d}' for name, _ in CASES for d in ('forward', 'backward')}


@pytest.mark.parametrize('shape', [(3, 7), (1, 5)])
@pytest.mark.parametrize('name,params', CASES, ids=IDS)
def test_cuda_matches_cpu(rng, shape, name, params):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    n = min(len(SPECIAL), x.size)
    x.reshape(-1)[rng.choice(x.size, n, replace=False)] = SPECIAL[:n]
    R = rng.standard_normal(shape).astype(np.float32)

    out, dinp = np.empty_like(x), np.empty_like(x)
    call(getattr(cpu_act, f'{name}_forward'), out=out, inp=x, **params)
    call(getattr(cpu_act, f'{name}_backward'), dinp=dinp, dout=R, inp=x, out=out, **params)

    d_x, d_R = to_device(x), to_device(R)
    d_out, d_dinp = cuda.device_array_like(x), cuda.device_array_like(x)
    call(getattr(gpu_act, f'{name}_forward'), out=d_out, inp=d_x, **params)
    call(getattr(gpu_act, f'{name}_backward'), dinp=d_dinp, dout=d_R, inp=d_x, out=d_out, **params)
    g_out, g_dinp = d_out.copy_to_host(), d_dinp.copy_to_host()

    assert np.isfinite(g_out).all() and np.isfinite(g_dinp).all()
    # A few ulps apart: the math libraries differ by an ulp or two (and the simulator computes them in float64).
    # atol: an ulp of out, where a backward from out cancels (elu's out + alpha for x << 0, sigmoid's 1 - out).
    np.testing.assert_allclose(g_out, out, rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(g_dinp, dinp, rtol=2e-6, atol=1e-6)
