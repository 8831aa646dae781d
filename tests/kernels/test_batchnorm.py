"""The batchnorm kernels against a float64 numpy reference, the analytic gradient and central differences
(float64 arrays, so the differences are precise), a batch of one row, and 1 against 2 threads."""
import numba
import numpy as np
import pytest

from numbanet.kernels.cpu import batchnorm as bn
from tests.helpers import check_grad

SHAPES = [(7, 13), (1, 5), (33, 3), (64, 40)]
EPS = 1e-3


def reference_forward(x, gamma, beta, eps=EPS):
    x = x.astype(np.float64)
    mean, var = x.mean(0), x.var(0)  # the biased variance, as Keras
    return (x - mean) / np.sqrt(var + eps) * gamma + beta, mean, var


def reference_backward(dout, x, gamma, eps=EPS):
    # The training-mode gradient through the batch statistics, written out in numpy.
    dout, x = dout.astype(np.float64), x.astype(np.float64)
    R = x.shape[0]
    mean, var = x.mean(0), x.var(0)
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv
    dgamma, dbeta = (dout * xhat).sum(0), dout.sum(0)
    dx = gamma * inv / R * (R * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def work(C):
    """The kernels' scratch: its contents are undefined on entry, so NaN shows a kernel that reads before writing."""
    return np.full((4, C), np.nan)


def data(rng, shape, dtype=np.float32):
    R, C = shape
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)  # off-centre and wide, so normalizing matters
    gamma = (rng.standard_normal(C) + 1).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    return x, gamma, beta


@pytest.mark.parametrize('shape', SHAPES)
def test_forward_train(rng, shape):
    x, gamma, beta = data(rng, shape)
    out, mean, var = np.empty_like(x), np.empty(shape[1], np.float32), np.empty(shape[1], np.float32)
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS, work(x.shape[1]))
    want, want_mean, want_var = reference_forward(x, gamma, beta)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, want_var, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)


def test_one_row_normalizes_to_beta(rng):
    x, gamma, beta = data(rng, (1, 6))
    out, mean, var = np.empty_like(x), np.empty(6, np.float32), np.empty(6, np.float32)
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS, work(x.shape[1]))
    np.testing.assert_array_equal(mean, x[0])
    np.testing.assert_array_equal(var, 0)
    np.testing.assert_allclose(out[0], beta, rtol=0, atol=1e-7)
    dx, dgamma, dbeta = np.full_like(x, np.nan), np.zeros(6, np.float32), np.zeros(6, np.float32)
    dout = rng.standard_normal((1, 6)).astype(np.float32)
    bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS, work(x.shape[1]))
    np.testing.assert_allclose(dx, 0, atol=1e-7)  # the output does not depend on x at all
    np.testing.assert_allclose(dbeta, dout[0], rtol=1e-7)
    np.testing.assert_allclose(dgamma, 0, atol=1e-7)


@pytest.mark.parametrize('shape', SHAPES)
def test_backward_is_the_gradient_of_the_training_forward(rng, shape):
    x, gamma, beta = data(rng, shape, np.float64)
    C = shape[1]
    out, mean, var = np.empty_like(x), np.empty(C), np.empty(C)
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS, work(x.shape[1]))
    R = rng.standard_normal(shape)
    dx, dgamma0, dbeta0 = np.empty_like(x), rng.standard_normal(C), rng.standard_normal(C)
    dgamma, dbeta = dgamma0.copy(), dbeta0.copy()
    bn.batchnorm_backward(dx, dgamma, dbeta, R, x, mean, var, gamma, EPS, work(x.shape[1]))
    want_dx, want_dgamma, want_dbeta = reference_backward(R, x, gamma)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dgamma - dgamma0, want_dgamma, rtol=1e-9, atol=1e-12)  # accumulated
    np.testing.assert_allclose(dbeta - dbeta0, want_dbeta, rtol=1e-9, atol=1e-12)

    def loss():
        bn.batchnorm_forward_train(out, np.empty(C), np.empty(C), x, gamma, beta, EPS, work(x.shape[1]))
        return float((out * R).sum())
    for wrt, grad in ((x, dx), (gamma, dgamma - dgamma0), (beta, dbeta - dbeta0)):
        check_grad(loss, wrt, grad, rng, eps=1e-6, rtol=1e-5, atol=1e-7)


def test_parameter_gradients_accumulate(rng):
    x, gamma, beta = data(rng, (9, 4))
    out, mean, var = np.empty_like(x), np.empty(4, np.float32), np.empty(4, np.float32)
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS, work(x.shape[1]))
    dout = rng.standard_normal(x.shape).astype(np.float32)
    dx, dgamma, dbeta = np.empty_like(x), np.zeros(4, np.float32), np.zeros(4, np.float32)
    bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS, work(x.shape[1]))
    once = dgamma.copy(), dbeta.copy(), dx.copy()
    bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS, work(x.shape[1]))
    np.testing.assert_allclose(dgamma, 2 * once[0], rtol=1e-6)
    np.testing.assert_allclose(dbeta, 2 * once[1], rtol=1e-6)
    np.testing.assert_array_equal(dx, once[2])  # overwritten, not added


@pytest.mark.parametrize('shape', SHAPES)
def test_inference(rng, shape):
    x, gamma, beta = data(rng, shape, np.float64)
    C = shape[1]
    moving_mean, moving_var = rng.standard_normal(C), rng.random(C) + 0.5
    out = np.empty_like(x)
    bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, EPS, work(x.shape[1]))
    np.testing.assert_allclose(out, (x - moving_mean) / np.sqrt(moving_var + EPS) * gamma + beta, rtol=1e-12,
                               atol=1e-12)
    R = rng.standard_normal(shape)
    dx = np.empty_like(x)
    bn.batchnorm_backward_infer(dx, R, moving_var, gamma, EPS, work(x.shape[1]))
    np.testing.assert_allclose(dx, R * gamma / np.sqrt(moving_var + EPS), rtol=1e-12)

    def loss():
        bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, EPS, work(x.shape[1]))
        return float((out * R).sum())
    check_grad(loss, x, dx, rng, eps=1e-2, rtol=1e-6, atol=1e-9)  # linear in x: a large step is exact


def test_float32_inference(rng):
    x, gamma, beta = data(rng, (7, 13))
    moving_mean = rng.standard_normal(13).astype(np.float32)
    moving_var = (rng.random(13) + 0.5).astype(np.float32)
    out, dx = np.empty_like(x), np.empty_like(x)
    bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, EPS, work(x.shape[1]))
    xd = x.astype(np.float64)
    np.testing.assert_allclose(out, (xd - moving_mean) / np.sqrt(moving_var.astype(np.float64) + EPS) * gamma + beta,
                               rtol=1e-6, atol=1e-6)
    bn.batchnorm_backward_infer(dx, x, moving_var, gamma, EPS, work(x.shape[1]))
    np.testing.assert_allclose(dx, xd * gamma / np.sqrt(moving_var.astype(np.float64) + EPS), rtol=1e-6)


def test_update_moving(rng):
    C = 11
    moving_mean, moving_var = rng.standard_normal(C).astype(np.float32), rng.random(C).astype(np.float32)
    mean, var = rng.standard_normal(C).astype(np.float32), rng.random(C).astype(np.float32)
    want_mean = moving_mean * 0.99 + mean.astype(np.float64) * (1 - 0.99)
    want_var = moving_var * 0.99 + var.astype(np.float64) * (1 - 0.99)
    bn.batchnorm_update_moving(moving_mean, moving_var, mean, var, 0.99)
    np.testing.assert_allclose(moving_mean, want_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(moving_var, want_var, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason='needs two threads')
@pytest.mark.parametrize('shape', [(301, 67), (5, 3)])
def test_same_bits_on_one_and_two_threads(rng, monkeypatch, shape):
    x, gamma, beta = data(rng, shape)
    dout = rng.standard_normal(shape).astype(np.float32)
    C = shape[1]

    def run():
        out, mean, var = np.empty_like(x), np.empty(C, np.float32), np.empty(C, np.float32)
        bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS, work(x.shape[1]))
        dx, dgamma, dbeta = np.empty_like(x), np.ones(C, np.float32), np.ones(C, np.float32)
        bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS, work(x.shape[1]))
        return out, mean, var, dx, dgamma, dbeta

    serial = run()
    monkeypatch.setattr(bn, 'PARALLEL_MIN', 0)  # take the parallel kernels at any size
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            for got, want in zip(run(), serial):
                np.testing.assert_array_equal(got, want)
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize('kernel', ['batchnorm_forward_train', 'batchnorm_forward_infer', 'batchnorm_backward',
                                    'batchnorm_backward_infer'])
def test_work_of_the_wrong_shape_is_refused(rng, kernel):
    # The kernels write work[0:4, 0:C] unchecked: a smaller buffer must never reach them.
    x, gamma, beta = data(rng, (5, 6))
    v, out = np.ones(6, np.float32), np.empty_like(x)
    args = {'batchnorm_forward_train': (out, v.copy(), v.copy(), x, gamma, beta, EPS),
            'batchnorm_forward_infer': (out, x, v, v, gamma, beta, EPS),
            'batchnorm_backward': (out, v.copy(), v.copy(), x, x, v, v, gamma, EPS),
            'batchnorm_backward_infer': (out, x, v, gamma, EPS)}[kernel]
    for bad in (np.empty((4, 5)), np.empty((3, 6)), np.empty(24)):
        with pytest.raises(ValueError, match=r'shape \(4, 6\)'):
            getattr(bn, kernel)(*args, bad)


# Shared by batchnorm and layernorm: every kernel that takes `work` runs 10 times in a fresh interpreter (numba
# counts its allocations only when NUMBA_NRT_STATS is set at start), serially and, with PARALLEL_MIN at 0 and two
# threads, on the parallel path. Numba registers one allocation for each array a Python call hands to a jitted
# function (as in tests/test_plan.py); anything else counted was allocated inside a kernel.
_ALLOCATION_PROBE = """
import numpy as np
import numba.core.runtime as nrt
from numba.core.registry import CPUDispatcher
import functools
from numbanet.kernels.cpu import _launch, batchnorm as bn, layernorm as ln

rng = np.random.default_rng(0)
R, C = 37, 21  # odd: layernorm's 8-row tiles with rows and columns left over
x, dout = rng.standard_normal((R, C)).astype(np.float32), rng.standard_normal((R, C)).astype(np.float32)
gamma, beta = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
mean, var = np.empty(C, np.float32), np.empty(C, np.float32)
moving_mean, moving_var = np.zeros(C, np.float32), np.ones(C, np.float32)
row_mean, row_invstd = np.empty(R, np.float32), np.empty(R, np.float32)
out, dx, dgamma, dbeta = np.empty_like(x), np.empty_like(x), np.zeros(C, np.float32), np.zeros(C, np.float32)
work = np.empty((4, C))

def step():
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, 1e-3, work)
    bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, 1e-3, work)
    bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, 1e-3, work)
    bn.batchnorm_backward_infer(dx, dout, moving_var, gamma, 1e-3, work)
    ln.layernorm_forward(out, row_mean, row_invstd, x, gamma, beta, 1e-3)
    ln.layernorm_backward(dx, dgamma, dbeta, dout, x, row_mean, row_invstd, gamma, work)

for module in (bn, ln):
    module.PARALLEL_MIN = PARALLEL_MIN
step()  # compile, before the jitted functions' globals are wrapped: compiling looks them up

handed, called = [0], set()
def counting(name, f):
    @functools.wraps(f)  # so that a body handed to _launch.run is still found to be jitted
    def call(*args):
        handed[0] += sum(isinstance(a, np.ndarray) for a in args)
        called.add(name)
        return f(*args)
    return call
for module in (bn, ln, _launch):  # _launch: run() hands the parallel path's arrays to launch()
    for attr, value in list(vars(module).items()):
        if isinstance(value, CPUDispatcher):
            setattr(module, attr, counting(attr, value))
step()
before, handed[0] = nrt.rtsys.get_allocation_stats().alloc, 0
for _ in range(10):
    step()
print(' '.join(sorted(called)))
print(nrt.rtsys.get_allocation_stats().alloc - before - handed[0], handed[0])
"""


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason='counts what jitted code allocates')
@pytest.mark.parametrize('path', ['serial', 'parallel'])
def test_normalization_kernels_allocate_nothing(path):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, NUMBA_NRT_STATS='1', PYTHONPATH=root)
    if path == 'parallel':
        env['NUMBA_NUM_THREADS'] = '2'
    probe = _ALLOCATION_PROBE.replace('PARALLEL_MIN = PARALLEL_MIN', 'PARALLEL_MIN = ' +
                                      ('0' if path == 'parallel' else '1 << 30'))
    proc = subprocess.run([sys.executable, '-c', probe], env=env, cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    called = set(lines[-2].split())
    allocs, handed = map(int, lines[-1].split())
    assert ('launch' in called) == (path == 'parallel'), called  # the path asked for is the path taken
    assert handed >= 10 * 30  # the counting saw the calls
    assert allocs == 0, f"the normalization kernels allocated {allocs} arrays in 10 calls each"
