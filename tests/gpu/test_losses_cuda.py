"""The loss kernels' CUDA twins against the CPU ones, on tiny odd shapes with extreme values mixed in (the
simulator runs one Python thread per GPU thread). Losses are float64 sums in another order (one thread a row,
then the device's tree): close to the CPU's, not bit-equal."""
import numpy as np
import pytest
from numba import cuda

from numbanet.kernels.cpu import (binary_crossentropy as cpu_bce, categorical_hinge as cpu_hinge,
                                  huber as cpu_huber, kl_divergence as cpu_kl, log_cosh as cpu_log_cosh,
                                  mae as cpu_mae)
from numbanet.kernels.cuda import (binary_crossentropy as gpu_bce, categorical_hinge as gpu_hinge,
                                   huber as gpu_huber, kl_divergence as gpu_kl, log_cosh as gpu_log_cosh,
                                   mae as gpu_mae)
from tests.helpers.gpu import dev, host

BIG = float(np.finfo(np.float32).max)


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def f32(a):
    return np.asarray(a, np.float32)


def check_pair(cpu_fwd, gpu_fwd, cpu_bwd, gpu_bwd, p, y, *args):
    """forward and backward on both devices: the same loss (float64) and the same gradient (float32)."""
    want = cpu_fwd(p, y, *args)
    assert gpu_fwd(dev(p), dev(y), *args) == pytest.approx(want, rel=1e-10)
    d, dd = np.empty_like(p), cuda.device_array_like(p)
    cpu_bwd(d, p, y, *args)
    gpu_bwd(dd, dev(p), dev(y), *args)
    np.testing.assert_allclose(host(dd), d, rtol=1e-6, atol=1e-12)


def test_binary_crossentropy(rng):
    z = f32(rng.standard_normal((5, 3)) * 3)
    z[0] = [1e4, -1e4, BIG]
    y = f32(rng.random((5, 3)) > 0.5)
    y[1] = [0.25, 0.5, 1.0]
    probs, dz = np.empty_like(z), np.empty_like(z)
    loss = cpu_bce.binary_crossentropy_forward(probs, z, y)
    cpu_bce.binary_crossentropy_fused(dz, z, y)
    dprobs, ddz = cuda.device_array_like(z), cuda.device_array_like(z)
    assert gpu_bce.binary_crossentropy_forward(dprobs, dev(z), dev(y)) == pytest.approx(loss, rel=1e-10)
    assert gpu_bce.binary_crossentropy_fused(ddz, dev(z), dev(y)) == pytest.approx(loss, rel=1e-10)
    np.testing.assert_allclose(host(dprobs), probs, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(host(ddz), dz, rtol=1e-6, atol=1e-12)


def test_mae(rng):
    p, y = f32(rng.standard_normal((4, 7))), f32(rng.standard_normal((4, 7)))
    p[0, :3] = y[0, :3]  # zero error: zero gradient
    p[1, 0], y[1, 0] = BIG, -BIG
    check_pair(cpu_mae.mae_forward, gpu_mae.mae_forward, cpu_mae.mae_backward, gpu_mae.mae_backward, p, y)


@pytest.mark.parametrize('delta', [1.0, 0.3])
def test_huber(rng, delta):
    y = f32(rng.standard_normal((3, 5)))
    p = f32(y + rng.standard_normal((3, 5)) * 2 * delta)
    p[0, 0] = y[0, 0] + np.float32(delta)
    p[2, 4], y[2, 4] = -BIG, BIG
    check_pair(cpu_huber.huber_forward, gpu_huber.huber_forward, cpu_huber.huber_backward,
               gpu_huber.huber_backward, p, y, delta)


def test_kl_divergence(rng):
    p = f32(rng.dirichlet(np.ones(4), 5))
    y = f32(rng.dirichlet(np.ones(4), 5))
    y[0] = [1, 0, 0, 0]
    p[1] = [0, 1, 1e-9, -0.5]  # clipped: no gradient
    p[2, 0] = 1.5
    check_pair(cpu_kl.kl_divergence_forward, gpu_kl.kl_divergence_forward, cpu_kl.kl_divergence_backward,
               gpu_kl.kl_divergence_backward, p, y)


def test_categorical_hinge(rng):
    labels = rng.integers(0, 4, 6)
    y = np.eye(4, dtype=np.float32)[labels]
    y[5] = [0.1, 0.2, 0.3, 0.4]
    p = f32(rng.standard_normal((6, 4)))
    p[0] = [0.5, 0.2, 0.5, 0.1]
    y[0] = [0, 1, 0, 0]  # a tie for the max: the first takes the gradient
    p[1] = [-1, -2, -3, -4]
    y[1] = [1, 0, 0, 0]
    p[2] = [1, 0, 0, 0]
    y[2] = [1, 0, 0, 0]  # margin exactly 0
    p[3, labels[3]] += 5  # right by a margin
    check_pair(cpu_hinge.categorical_hinge_forward, gpu_hinge.categorical_hinge_forward,
               cpu_hinge.categorical_hinge_backward, gpu_hinge.categorical_hinge_backward, p, y)


def test_log_cosh(rng):
    p, y = f32(rng.standard_normal((5, 3)) * 3), f32(rng.standard_normal((5, 3)))
    p[0] = [1e4, -BIG, 1e-4]
    y[0] = [0, 0, 0]
    check_pair(cpu_log_cosh.log_cosh_forward, gpu_log_cosh.log_cosh_forward, cpu_log_cosh.log_cosh_backward,
               gpu_log_cosh.log_cosh_backward, p, y)
