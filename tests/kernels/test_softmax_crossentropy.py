"""Softmax with cross-entropy, dense and sparse targets, forward, backward and fused, against numpy
and central differences; stable for logits of 1e4; out-of-range labels refused."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import SHAPES, check_grad, softmax


def _ce_reference(z, y):
    lse = z.max(1) + np.log(np.exp(z - z.max(1, keepdims=True)).sum(1))
    return float((y * (lse[:, None] - z)).sum())


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('sparse', [False, True])
def test_softmax_crossentropy(rng, shape, sparse):
    B, C = shape
    z = rng.standard_normal(shape) * 2
    labels = rng.integers(0, C, B)
    onehot = np.eye(C)[labels]
    y = labels if sparse else onehot
    fwd = k.sparse_softmax_crossentropy_forward if sparse else k.softmax_crossentropy_forward
    bwd = k.sparse_softmax_crossentropy_backward if sparse else k.softmax_crossentropy_backward
    fused = k.sparse_softmax_crossentropy_fused if sparse else k.softmax_crossentropy_fused

    probs = np.empty_like(z)
    total = fwd(probs, z, y)
    assert total == pytest.approx(_ce_reference(z, onehot), rel=1e-12)
    np.testing.assert_allclose(probs, softmax(z), rtol=1e-12, atol=1e-15)
    dz = np.empty_like(z)
    bwd(dz, probs, y)
    np.testing.assert_allclose(dz, (softmax(z) - onehot) / B, rtol=1e-10, atol=1e-14)
    dz2 = np.empty_like(z)
    assert fused(dz2, z, y) == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(dz2, dz, rtol=1e-12, atol=1e-15)

    check_grad(lambda: fwd(probs, z, y) / B, z, dz, rng, eps=1e-6, rtol=1e-5, atol=1e-9)


def test_softmax_crossentropy_soft_targets(rng):
    # Targets that are not one-hot (label smoothing, or rows not summing to 1) still get the exact gradient.
    z = rng.standard_normal((5, 4))
    y = rng.random((5, 4))
    dz = np.empty_like(z)
    total = k.softmax_crossentropy_fused(dz, z, y)
    assert total == pytest.approx(_ce_reference(z, y), rel=1e-12)
    probs = np.empty_like(z)
    check_grad(lambda: k.softmax_crossentropy_forward(probs, z, y) / 5, z, dz, rng, eps=1e-6, rtol=1e-5,
               atol=1e-9)


@pytest.mark.parametrize('sparse', [False, True])
def test_softmax_crossentropy_is_stable_for_logits_of_1e4(sparse):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 1e4]], np.float32)
    labels = np.array([0, 0, 1])
    y = labels if sparse else np.eye(3, dtype=np.float32)[labels]
    fused = k.sparse_softmax_crossentropy_fused if sparse else k.softmax_crossentropy_fused
    dz = np.empty_like(z)
    total = fused(dz, z, y)
    # Row 0 is right (loss 0); rows 1 and 2 are wrong by 2e4 and 1e4.
    assert np.isfinite(total) and total == pytest.approx(3e4, rel=1e-6)
    assert np.all(np.isfinite(dz))
    np.testing.assert_allclose(dz, (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]]) - np.eye(3)[labels]) / 3,
                               atol=1e-7)


def test_sparse_crossentropy_kernel_refuses_out_of_range_labels():
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(IndexError):
        k.sparse_softmax_crossentropy_fused(np.empty_like(z), z, np.array([0, 3]))
    with pytest.raises(IndexError):
        k.sparse_softmax_crossentropy_forward(np.empty_like(z), z, np.array([-1, 0]))
