"""scale_rows against numpy; every loss kernel's weighted sum against its per-row losses; and central
differences: the unweighted gradient with its rows scaled is the gradient of the weighted mean loss."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import SHAPES, check_grad, softmax


@pytest.mark.parametrize('shape', SHAPES)
def test_scale_rows(rng, shape):
    g = rng.standard_normal(shape).astype(np.float32)
    w = rng.random(shape[0]).astype(np.float32)
    w[0] = 0.0
    want = g * w[:, None]
    k.scale_rows(g, w)
    np.testing.assert_array_equal(g, want)


def _data(rng, B, C):
    z = (rng.standard_normal((B, C)) * 2).astype(np.float32)
    probs = softmax(z.astype(np.float64)).astype(np.float32)
    labels = rng.integers(0, C, B)
    onehot = np.eye(C, dtype=np.float32)[labels]
    soft = (onehot * 0.8 + 0.2 / C).astype(np.float32)
    y01 = (rng.random((B, C)) > 0.5).astype(np.float32)
    reg = rng.standard_normal((B, C)).astype(np.float32)
    teacher = (rng.standard_normal((B, C)) * 2).astype(np.float32)
    return z, probs, labels, onehot, soft, y01, reg, teacher


def _kernels(rng, B, C):
    """Each loss kernel that returns a sum, as f(rows, weights) over the first `rows` of one batch."""
    z, probs, labels, onehot, soft, y01, reg, teacher = _data(rng, B, C)
    out = np.empty((B, C), np.float32)

    def call(fn, *args):
        return lambda r, *w: fn(*(a[r] for a in args), *w)
    return {
        'softmax_crossentropy_forward': lambda r, *w: k.softmax_crossentropy_forward(out[r], z[r], soft[r], *w),
        'softmax_crossentropy_fused': lambda r, *w: k.softmax_crossentropy_fused(out[r], z[r], soft[r], *w),
        'sparse_softmax_crossentropy_forward':
            lambda r, *w: k.sparse_softmax_crossentropy_forward(out[r], z[r], labels[r], *w),
        'sparse_softmax_crossentropy_fused':
            lambda r, *w: k.sparse_softmax_crossentropy_fused(out[r], z[r], labels[r], *w),
        'binary_crossentropy_forward': lambda r, *w: k.binary_crossentropy_forward(out[r], z[r], y01[r], *w),
        'binary_crossentropy_fused': lambda r, *w: k.binary_crossentropy_fused(out[r], z[r], y01[r], *w),
        'mse_forward': call(k.mse_forward, z, reg),
        'mae_forward': call(k.mae_forward, z, reg),
        'huber_forward': lambda r, *w: k.huber_forward(z[r], reg[r], 0.7, *w),
        'log_cosh_forward': call(k.log_cosh_forward, z, reg),
        'kl_divergence_forward': call(k.kl_divergence_forward, probs, soft),
        'categorical_hinge_forward': call(k.categorical_hinge_forward, probs, onehot),
        'distillation_forward': lambda r, *w: k.distillation_forward(z[r], teacher[r], onehot[r], 2.5, 0.3, *w),
    }


NAMES = sorted(_kernels(np.random.default_rng(0), 2, 2))


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('shape', [(1, 1), (7, 13), (33, 3)])
def test_weighted_sum_is_the_rows_losses_times_their_weights(rng, name, shape):
    B, C = shape
    fn = _kernels(rng, B, C)[name]
    w = (rng.random(B) * 3).astype(np.float32)
    w[B // 2] = 0.0
    rows = np.array([fn(slice(b, b + 1)) for b in range(B)])
    whole = slice(0, B)
    assert fn(whole, w) == pytest.approx(float((rows * w.astype(np.float64)).sum()), rel=1e-12, abs=1e-12)
    assert fn(whole, np.ones(B, np.float32)) == fn(whole)  # weights of one change nothing, to the bit
    assert fn(whole) == pytest.approx(rows.sum(), rel=1e-12)


@pytest.mark.parametrize('shape', SHAPES)
def test_scaled_gradient_is_the_weighted_mean_loss_gradient(rng, shape):
    # Central differences of sum_b w_b l_b / B against the mean's gradient with its rows scaled by w.
    B, C = shape
    p = rng.standard_normal(shape)
    y = rng.standard_normal(shape)
    w = rng.random(B) * 2
    dp = np.empty_like(p)
    k.mse_backward(dp, p, y)
    k.scale_rows(dp, w)
    check_grad(lambda: k.mse_forward(p, y, w) / B, p, dp, rng, eps=1e-2, rtol=1e-6, atol=1e-10)

    z = rng.standard_normal(shape) * 2
    labels = rng.integers(0, C, B)
    dz = np.empty_like(z)
    k.sparse_softmax_crossentropy_fused(dz, z, labels, w)
    k.scale_rows(dz, w)
    probs = np.empty_like(z)
    check_grad(lambda: k.sparse_softmax_crossentropy_forward(probs, z, labels, w) / B, z, dz, rng, eps=1e-6,
               rtol=1e-5, atol=1e-9)


def test_scale_rows_refuses_weights_of_another_length(rng):
    g = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match='one weight per row'):
        k.scale_rows(g, np.ones(3, np.float32))
    assert (g == 1).all()
