"""The normalization, dropout, regularizer and metric-count kernels on the GPU against their CPU twins, on
tiny odd shapes (the simulator runs one Python thread per GPU thread). Dropout masks must match bit for bit."""
import warnings

import numpy as np
import pytest
from numba import cuda

from numbanet.kernels.cpu import accuracy as cpu_accuracy
from numbanet.kernels.cpu import batchnorm as cpu_bn
from numbanet.kernels.cpu import confusion as cpu_confusion
from numbanet.kernels.cpu import dropout as cpu_dropout
from numbanet.kernels.cpu import layernorm as cpu_ln
from numbanet.kernels.cpu import regularizer as cpu_reg
from numbanet.kernels.cuda import accuracy as gpu_accuracy
from numbanet.kernels.cuda import batchnorm as gpu_bn
from numbanet.kernels.cuda import confusion as gpu_confusion
from numbanet.kernels.cuda import dropout as gpu_dropout
from numbanet.kernels.cuda import layernorm as gpu_ln
from numbanet.kernels.cuda import regularizer as gpu_reg
from tests.helpers.gpu import dev, host

EPS = 1e-3
SHAPES = [(5, 7), (1, 3)]


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def f32(rng, *shape, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def work(C, device=False):
    """The kernels' float64 (4, C) scratch, contents undefined: NaN on the host, whatever the device had."""
    return cuda.device_array((4, C), np.float64) if device else np.full((4, C), np.nan)


def param_grads(C):
    """Gradients of gamma and beta that already hold something: the kernels add to them."""
    return np.full(C, 0.5, np.float32), np.full(C, -0.25, np.float32)


@pytest.mark.parametrize('shape', SHAPES)
def test_batchnorm(rng, shape):
    R, C = shape
    x, gamma, beta, dout = f32(rng, R, C, scale=3, shift=2), f32(rng, C, shift=1), f32(rng, C), f32(rng, R, C)
    out, mean, var = np.empty_like(x), np.empty(C, np.float32), np.empty(C, np.float32)
    cpu_bn.batchnorm_forward_train(out, mean, var, x, gamma, beta, EPS, work(C))
    d_out, d_mean, d_var, d_x = (cuda.device_array_like(a) for a in (out, mean, var, x))
    d_x.copy_to_device(x)
    d_work = work(C, device=True)  # one buffer for all four kernels, as a layer keeps it
    gpu_bn.batchnorm_forward_train(d_out, d_mean, d_var, d_x, dev(gamma), dev(beta), EPS, d_work)
    np.testing.assert_allclose(host(d_mean), mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(d_var), var, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(d_out), out, rtol=1e-6, atol=1e-6)

    dx, (dgamma, dbeta) = np.empty_like(x), param_grads(C)
    cpu_bn.batchnorm_backward(dx, dgamma, dbeta, dout, x, mean, var, gamma, EPS, work(C))
    d_dx, (d_dgamma, d_dbeta) = cuda.device_array_like(x), (dev(a) for a in param_grads(C))
    gpu_bn.batchnorm_backward(d_dx, d_dgamma, d_dbeta, dev(dout), d_x, dev(mean), dev(var), dev(gamma), EPS,
                              d_work)
    np.testing.assert_allclose(host(d_dx), dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(d_dgamma), dgamma, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(host(d_dbeta), dbeta, rtol=1e-6, atol=1e-6)

    moving_mean, moving_var = f32(rng, C), (rng.random(C) + 0.5).astype(np.float32)
    d_mm, d_mv = dev(moving_mean), dev(moving_var)
    cpu_bn.batchnorm_forward_infer(out, x, moving_mean, moving_var, gamma, beta, EPS, work(C))
    gpu_bn.batchnorm_forward_infer(d_out, d_x, d_mm, d_mv, dev(gamma), dev(beta), EPS, d_work)
    np.testing.assert_allclose(host(d_out), out, rtol=1e-6, atol=1e-6)
    cpu_bn.batchnorm_backward_infer(dx, dout, moving_var, gamma, EPS, work(C))
    gpu_bn.batchnorm_backward_infer(d_dx, dev(dout), d_mv, dev(gamma), EPS, d_work)
    np.testing.assert_allclose(host(d_dx), dx, rtol=1e-6, atol=1e-7)
    cpu_bn.batchnorm_update_moving(moving_mean, moving_var, mean, var, 0.9)
    gpu_bn.batchnorm_update_moving(d_mm, d_mv, dev(mean), dev(var), 0.9)
    np.testing.assert_allclose(host(d_mm), moving_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(d_mv), moving_var, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('shape', SHAPES)
def test_layernorm(rng, shape):
    R, C = shape
    x, gamma, beta, dout = f32(rng, R, C, scale=3, shift=2), f32(rng, C, shift=1), f32(rng, C), f32(rng, R, C)
    out, mean, invstd = np.empty_like(x), np.empty(R, np.float32), np.empty(R, np.float32)
    cpu_ln.layernorm_forward(out, mean, invstd, x, gamma, beta, EPS)
    d_out, d_mean, d_invstd = (cuda.device_array_like(a) for a in (out, mean, invstd))
    d_x = dev(x)
    gpu_ln.layernorm_forward(d_out, d_mean, d_invstd, d_x, dev(gamma), dev(beta), EPS)
    np.testing.assert_allclose(host(d_mean), mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(d_invstd), invstd, rtol=1e-6)
    np.testing.assert_allclose(host(d_out), out, rtol=1e-6, atol=1e-6)
    dx, (dgamma, dbeta) = np.empty_like(x), param_grads(C)
    cpu_ln.layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work(C))
    d_dx, (d_dgamma, d_dbeta) = cuda.device_array_like(x), (dev(a) for a in param_grads(C))
    gpu_ln.layernorm_backward(d_dx, d_dgamma, d_dbeta, dev(dout), d_x, d_mean, d_invstd, dev(gamma),
                              work(C, device=True))
    np.testing.assert_allclose(host(d_dx), dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(d_dgamma), dgamma, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(host(d_dbeta), dbeta, rtol=1e-6, atol=1e-6)


def test_work_of_the_wrong_shape_is_refused_on_the_device(rng):
    x, gamma, v = dev(f32(rng, 5, 6)), dev(f32(rng, 6)), dev(np.ones(6, np.float32))
    rows = dev(np.ones(5, np.float32))
    calls = [lambda w: gpu_bn.batchnorm_forward_train(cuda.device_array_like(x), v, v, x, gamma, gamma, EPS, w),
             lambda w: gpu_bn.batchnorm_forward_infer(cuda.device_array_like(x), x, v, v, gamma, gamma, EPS, w),
             lambda w: gpu_bn.batchnorm_backward(cuda.device_array_like(x), v, v, x, x, v, v, gamma, EPS, w),
             lambda w: gpu_bn.batchnorm_backward_infer(cuda.device_array_like(x), x, v, gamma, EPS, w),
             lambda w: gpu_ln.layernorm_backward(cuda.device_array_like(x), v, v, x, x, rows, rows, gamma, w)]
    for call in calls:
        for bad in ((4, 5), (3, 6)):
            with pytest.raises(ValueError, match=r'shape \(4, 6\)'):
                call(cuda.device_array(bad, np.float64))


@pytest.mark.parametrize('seed', [0, 2 ** 64 - 2])
def test_dropout_masks_are_the_cpus_bit_for_bit(rng, seed):
    x = f32(rng, 9, 7)
    out, mask = np.empty_like(x), np.empty_like(x)
    cpu_dropout.dropout_forward(out, mask, x, 0.35, np.uint64(seed))
    d_out, d_mask = cuda.device_array_like(x), cuda.device_array_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no overflow warnings from the simulator's uint64 scalars
        gpu_dropout.dropout_forward(d_out, d_mask, dev(x), 0.35, np.uint64(seed))
    np.testing.assert_array_equal(host(d_mask), mask)
    np.testing.assert_array_equal(host(d_out), out)
    assert 0 < (mask == 0).sum() < mask.size
    dout = f32(rng, 9, 7)
    d_dx = cuda.device_array_like(x)
    gpu_dropout.dropout_backward(d_dx, dev(dout), d_mask)
    dx = np.empty_like(x)
    cpu_dropout.dropout_backward(dx, dout, mask)
    np.testing.assert_array_equal(host(d_dx), dx)


def test_regularizer(rng):
    w = f32(rng, 37)
    for l1, l2 in ((0.01, 0.0), (0.003, 0.5)):
        assert gpu_reg.regularizer_forward(dev(w), l1, l2) == pytest.approx(cpu_reg.regularizer_forward(w, l1, l2),
                                                                            rel=1e-12)
        dw = f32(rng, 37)
        d_dw = dev(dw)
        cpu_reg.regularizer_backward(dw, w, l1, l2)
        gpu_reg.regularizer_backward(d_dw, dev(w), l1, l2)
        np.testing.assert_allclose(host(d_dw), dw, rtol=1e-6, atol=1e-7)
    assert gpu_reg.regularizer_forward(dev(np.zeros(0, np.float32)), 0.1, 0.1) == 0.0


def test_metric_counts(rng):
    pred, labels = f32(rng, 6, 4), rng.integers(0, 4, 6)
    pred[0] = 1.0  # ties
    targets = np.eye(4, dtype=np.float32)[labels]
    for top in (1, 2):
        want = cpu_accuracy.sparse_top_k_categorical_count(pred, labels, top)
        assert gpu_accuracy.sparse_top_k_categorical_count(dev(pred), dev(labels), top) == want
        assert gpu_accuracy.top_k_categorical_count(dev(pred), dev(targets), top) == want
    probs = rng.random((5, 3)).astype(np.float32)
    soft = rng.random((5, 3)).astype(np.float32)
    probs[0, 0] = 0.5  # on a threshold
    thresholds = np.array([-1e-7, 0.25, 0.5, 1 + 1e-7], np.float32)
    counts = np.full((4, 4), 2.0)
    cpu_confusion.confusion_counts(counts, probs, soft, thresholds)
    d_counts = dev(np.full((4, 4), 2.0))
    gpu_confusion.confusion_counts(d_counts, dev(probs), dev(soft), dev(thresholds))
    np.testing.assert_array_equal(host(d_counts), counts)
