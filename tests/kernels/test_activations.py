"""The activation kernels (kernels/cpu/activations.py): each forward on float32 against a float64 numpy
reference, each backward against its analytic derivative in numpy and by central differences (run in
float64, so the differences are precise), and finite, warning-free results for huge inputs."""
import inspect
import math
import os
import warnings

import numpy as np
import pytest

from numbanet.kernels.cpu import activations as cpu_act
from tests.helpers import check_grad

SHAPES = [(1, 5), (7, 13), (33, 3)]
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ULP1 = 2.0 ** -23  # float32's spacing at 1
# Planted in every input, as far as the shape has room: both kinks, both sides of 0, and far tails.
SPECIAL = [0.0, -80.0, 80.0, -3.0, 3.0, -1e-4, 1e-4, -10.0, 10.0, -6.0, 6.0]


# ---- float64 references ------------------------------------------------------------------------------------------
def sig(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_erfc = np.vectorize(math.erfc, otypes=[float])
_erf = np.vectorize(math.erf, otypes=[float])
C = math.sqrt(2 / math.pi)


def gelu_u(x):
    return C * (x + 0.044715 * x ** 3)


def gelu_du(x):
    return C * (1 + 3 * 0.044715 * x ** 2)


def elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


# name, parameters, forward, derivative, rtol of the forward. The derivatives take the left branch at a kink.
CASES = [
    ('sigmoid', {}, sig, lambda x: sig(x) * sig(-x), 1e-6),
    ('tanh', {}, np.tanh, lambda x: 1 / np.cosh(x) ** 2, 1e-6),
    ('exponential', {}, np.exp, np.exp, 1e-6),
    # gelu's tails are ill-conditioned: an ulp in x / sqrt 2 or in u costs about x^2 ulps of the result.
    ('gelu', {'approximate': False}, lambda x: 0.5 * x * _erfc(-x / math.sqrt(2)),
     lambda x: 0.5 * _erfc(-x / math.sqrt(2)) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi), 2e-5),
    ('gelu', {'approximate': True}, lambda x: x * sig(2 * gelu_u(x)),  # 0.5 x (1 + tanh u) = x sigmoid(2u)
     lambda x: sig(2 * gelu_u(x)) + x * sig(2 * gelu_u(x)) * sig(-2 * gelu_u(x)) * 2 * gelu_du(x), 2e-5),
    ('leaky_relu', {'negative_slope': 0.2}, lambda x: np.where(x > 0, x, 0.2 * x),
     lambda x: np.where(x > 0, 1.0, 0.2), 1e-6),
    ('leaky_relu', {'negative_slope': 0.01}, lambda x: np.where(x > 0, x, 0.01 * x),
     lambda x: np.where(x > 0, 1.0, 0.01), 1e-6),
    ('elu', {'alpha': 1.0}, lambda x: elu(x, 1.0), lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))), 1e-6),
    ('elu', {'alpha': 0.3}, lambda x: elu(x, 0.3), lambda x: np.where(x > 0, 1.0, 0.3 * np.exp(np.minimum(x, 0))),
     1e-6),
    ('selu', {}, lambda x: SELU_SCALE * elu(x, SELU_ALPHA),
     lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))), 1e-6),
    ('softplus', {}, lambda x: np.logaddexp(0, x), sig, 1e-6),
    ('softsign', {}, lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2, 1e-6),
    ('silu', {}, lambda x: x * sig(x), lambda x: sig(x) + x * sig(x) * sig(-x), 1e-6),
    ('hard_sigmoid', {}, lambda x: np.clip(x + 3, 0, 6) / 6, lambda x: np.where(np.abs(x) < 3, 1 / 6, 0.0), 1e-6),
]
# As plain Python (NUMBA_DISABLE_JIT=1) the kernels' float32 constants meet numpy scalars under numpy's rules, not
# numba's: a float64 input is computed partly in float32, and float32 overflow in x * x warns.
compiled_only = pytest.mark.skipif(os.environ.get('NUMBA_DISABLE_JIT') == '1', reason="relies on numba's typing")
IDS = [name + ''.join(f'-{v}' for v in params.values()) for name, params, *_ in CASES]


def call(fn, **named):
    """Call a kernel with its arrays and parameters by name: the backwards differ in what they take."""
    return fn(*[named[p] for p in inspect.signature(getattr(fn, 'py_func', fn)).parameters])


def run(name, params, x, R):
    out, dinp = np.empty_like(x), np.empty_like(x)
    call(getattr(cpu_act, f'{name}_forward'), out=out, inp=x, **params)
    call(getattr(cpu_act, f'{name}_backward'), dinp=dinp, dout=R, inp=x, out=out, **params)
    return out, dinp


def inputs(rng, shape):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    flat = x.reshape(-1)
    n = min(len(SPECIAL), flat.size)
    flat[rng.choice(flat.size, n, replace=False)] = SPECIAL[:n]
    return x


def test_the_cases_cover_every_kernel():
    public = {n for n in dir(cpu_act) if n.endswith(('_forward', '_backward')) and not n.startswith('_')}
    assert public == {f'{name}_{d}' for name, *_ in CASES for d in ('forward', 'backward')}


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('name,params,forward,derivative,rtol', CASES, ids=IDS)
def test_forward_and_backward_against_numpy(rng, shape, name, params, forward, derivative, rtol):
    x = inputs(rng, shape)
    R = rng.standard_normal(shape).astype(np.float32)
    out, dinp = run(name, params, x, R)
    assert out.dtype == dinp.dtype == np.float32
    x64 = x.astype(np.float64)
    # atol: an ulp of 1, for results that cancel to near 0 (hard_sigmoid just above -3, tanh' from 1 - out^2).
    np.testing.assert_allclose(out, forward(x64), rtol=rtol, atol=1e-30 if name != 'hard_sigmoid' else ULP1)
    # The backwards from `out` lose to it an ulp of out, absolute: scaled by |R| <= ~4 and by selu's 1.76.
    np.testing.assert_allclose(dinp, R * derivative(x64), rtol=rtol, atol=8 * ULP1)


@compiled_only
@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('name,params,forward,derivative,rtol', CASES, ids=IDS)
def test_backward_against_central_differences(rng, shape, name, params, forward, derivative, rtol):
    # float64 arrays: the kernels then compute in float64 with the same float32 constants in the forward
    # and the backward. Kept 1e-3 away from the kinks (0, and +-3 for hard_sigmoid), where the step would cross.
    x = rng.standard_normal(shape) * 2
    for kink in (0.0, -3.0, 3.0):
        near = np.abs(x - kink) < 1e-3
        x[near] = kink + 0.5
    R = rng.standard_normal(shape)
    _, dinp = run(name, params, x, R)
    out = np.empty_like(x)
    forward_kernel = getattr(cpu_act, f'{name}_forward')

    def loss():
        call(forward_kernel, out=out, inp=x, **params)
        return float((out * R).sum())
    check_grad(loss, x, dinp, rng, eps=1e-5, rtol=1e-6, atol=1e-7)


@compiled_only
@pytest.mark.parametrize('name,params,forward,derivative,rtol', CASES, ids=IDS)
def test_huge_inputs_give_finite_results_without_warnings(name, params, forward, derivative, rtol):
    big = [-80.0, 80.0] if name == 'exponential' else [-1e30, -1e4, -80.0, 80.0, 1e4, 1e30, -3e38, 3e38]
    if name == 'selu':
        big = big[:-2]  # 1.0507 * 3e38 does not fit in float32
    x = np.array([big], np.float32)
    R = np.ones_like(x)
    with warnings.catch_warnings(), np.errstate(all='raise'):
        warnings.simplefilter('error')
        out, dinp = run(name, params, x, R)
    assert np.isfinite(out).all() and np.isfinite(dinp).all(), (out, dinp)
    with np.errstate(all='ignore'):
        want_out, want_d = forward(x.astype(np.float64)), derivative(x.astype(np.float64))
    ok = np.isfinite(want_out) & np.isfinite(want_d)  # numpy's own reference overflows where the kernels do not
    np.testing.assert_allclose(out[ok], want_out[ok], rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(dinp[ok], want_d[ok], rtol=rtol, atol=1e-30)


def test_limits_and_kinks():
    x = np.array([[-1e30, -3.0, 0.0, 3.0, 1e30]], np.float32)
    R = np.ones_like(x)
    out, d = run('sigmoid', {}, x, R)
    np.testing.assert_array_equal(out[0, [0, 2, 4]], [0, 0.5, 1])
    out, d = run('hard_sigmoid', {}, x, R)
    np.testing.assert_array_equal(out, [[0, 0, 0.5, 1, 1]])
    np.testing.assert_array_equal(d, [[0, 0, np.float32(1 / 6), 0, 0]])  # 1/6 strictly inside (-3, 3) only
    _, d = run('leaky_relu', {'negative_slope': 0.2}, x, R)
    assert d[0, 2] == np.float32(0.2)  # the left branch at 0, as relu_backward gives 0 there
    _, d = run('elu', {'alpha': 0.5}, x, R)
    assert d[0, 2] == np.float32(0.5)
    out, d = run('selu', {}, x, R)
    assert out[0, 0] == pytest.approx(-SELU_SCALE * SELU_ALPHA, rel=1e-7)
    assert d[0, 2] == pytest.approx(SELU_SCALE * SELU_ALPHA, rel=1e-7) and d[0, 3] == np.float32(SELU_SCALE)
    for approximate in (False, True):
        out, d = run('gelu', {'approximate': approximate}, x, R)
        np.testing.assert_array_equal(out[0, [0, 2, 4]], [0, 0, x[0, 4]])
        np.testing.assert_array_equal(d[0, [0, 2, 4]], [0, 0.5, 1])


def test_gelu_is_kerass_formula_where_that_is_well_conditioned(rng):
    # Keras writes 0.5 x (1 + erf(x / sqrt 2)) and 0.5 x (1 + tanh(u)); the kernels' erfc and sigmoid forms are
    # the same functions, and keep their relative precision where 1 + erf and 1 + tanh cancel (x << 0).
    x = (rng.standard_normal((7, 13)) * 2).astype(np.float32)
    x64 = x.astype(np.float64)
    out = np.empty_like(x)
    cpu_act.gelu_forward(out, x, False)
    np.testing.assert_allclose(out, 0.5 * x64 * (1 + _erf(x64 / math.sqrt(2))), rtol=1e-6, atol=1e-7)
    cpu_act.gelu_forward(out, x, True)
    np.testing.assert_allclose(out, 0.5 * x64 * (1 + np.tanh(gelu_u(x64))), rtol=1e-6, atol=1e-7)
    tail = np.array([[-6.0, -8.0]], np.float32)
    out = np.empty_like(tail)
    cpu_act.gelu_forward(out, tail, False)  # 1 + erf(x / sqrt 2) is below float32's epsilon here
    np.testing.assert_allclose(out, 0.5 * tail * _erfc(-tail / math.sqrt(2)), rtol=1e-5)
    assert (out < 0).all()
