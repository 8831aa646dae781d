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
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS)
    want, want_mean, want_var = reference_forward(x, gamma, beta)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, want_var, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)


def test_one_row_normalizes_to_beta(rng):
    x, gamma, beta = data(rng, (1, 6))
    out, mean, var = np.empty_like(x), np.empty(6, np.float32), np.empty(6, np.float32)
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS)
    np.testing.assert_array_equal(mean, x[0])
    np.testing.assert_array_equal(var, 0)
    np.testing.assert_allclose(out[0], beta, rtol=0, atol=1e-7)
    dx, dgamma, dbeta = np.full_like(x, np.nan), np.zeros(6, np.float32), np.zeros(6, np.float32)
    dout = rng.standard_normal((1, 6)).astype(np.float32)
    bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS)
    np.testing.assert_allclose(dx, 0, atol=1e-7)  # the output does not depend on x at all
    np.testing.assert_allclose(dbeta, dout[0], rtol=1e-7)
    np.testing.assert_allclose(dgamma, 0, atol=1e-7)


@pytest.mark.parametrize('shape', SHAPES)
def test_backward_is_the_gradient_of_the_training_forward(rng, shape):
    x, gamma, beta = data(rng, shape, np.float64)
    C = shape[1]
    out, mean, var = np.empty_like(x), np.empty(C), np.empty(C)
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS)
    R = rng.standard_normal(shape)
    dx, dgamma0, dbeta0 = np.empty_like(x), rng.standard_normal(C), rng.standard_normal(C)
    dgamma, dbeta = dgamma0.copy(), dbeta0.copy()
    bn.batchnorm_backward(dx, dgamma, dbeta, R, x, mean, var, gamma, EPS)
    want_dx, want_dgamma, want_dbeta = reference_backward(R, x, gamma)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dgamma - dgamma0, want_dgamma, rtol=1e-9, atol=1e-12)  # accumulated
    np.testing.assert_allclose(dbeta - dbeta0, want_dbeta, rtol=1e-9, atol=1e-12)

    def loss():
        bn.batchnorm_forward_train(out, np.empty(C), np.empty(C), x, gamma, beta, EPS)
        return float((out * R).sum())
    for wrt, grad in ((x, dx), (gamma, dgamma - dgamma0), (beta, dbeta - dbeta0)):
        check_grad(loss, wrt, grad, rng, eps=1e-6, rtol=1e-5, atol=1e-7)


def test_parameter_gradients_accumulate(rng):
    x, gamma, beta = data(rng, (9, 4))
    out, mean, var = np.empty_like(x), np.empty(4, np.float32), np.empty(4, np.float32)
    bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    dx, dgamma, dbeta = np.empty_like(x), np.zeros(4, np.float32), np.zeros(4, np.float32)
    bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS)
    once = dgamma.copy(), dbeta.copy(), dx.copy()
    bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS)
    np.testing.assert_allclose(dgamma, 2 * once[0], rtol=1e-6)
    np.testing.assert_allclose(dbeta, 2 * once[1], rtol=1e-6)
    np.testing.assert_array_equal(dx, once[2])  # overwritten, not added


@pytest.mark.parametrize('shape', SHAPES)
def test_inference(rng, shape):
    x, gamma, beta = data(rng, shape, np.float64)
    C = shape[1]
    moving_mean, moving_var = rng.standard_normal(C), rng.random(C) + 0.5
    out = np.empty_like(x)
    bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, EPS)
    np.testing.assert_allclose(out, (x - moving_mean) / np.sqrt(moving_var + EPS) * gamma + beta, rtol=1e-12,
                               atol=1e-12)
    R = rng.standard_normal(shape)
    dx = np.empty_like(x)
    bn.batchnorm_backward_infer(dx, R, moving_var, gamma, EPS)
    np.testing.assert_allclose(dx, R * gamma / np.sqrt(moving_var + EPS), rtol=1e-12)

    def loss():
        bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, EPS)
        return float((out * R).sum())
    check_grad(loss, x, dx, rng, eps=1e-2, rtol=1e-6, atol=1e-9)  # linear in x: a large step is exact


def test_float32_inference(rng):
    x, gamma, beta = data(rng, (7, 13))
    moving_mean = rng.standard_normal(13).astype(np.float32)
    moving_var = (rng.random(13) + 0.5).astype(np.float32)
    out, dx = np.empty_like(x), np.empty_like(x)
    bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, EPS)
    xd = x.astype(np.float64)
    np.testing.assert_allclose(out, (xd - moving_mean) / np.sqrt(moving_var.astype(np.float64) + EPS) * gamma + beta,
                               rtol=1e-6, atol=1e-6)
    bn.batchnorm_backward_infer(dx, x, moving_var, gamma, EPS)
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
        bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS)
        dx, dgamma, dbeta = np.empty_like(x), np.ones(C, np.float32), np.ones(C, np.float32)
        bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS)
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
