"""Every CPU kernel against a plain-numpy reference, and every backward against central finite
differences, on odd shapes and on batch size 1. Float64 inputs make the differences precise where a
kernel is dtype-generic; dense (whose matmul tiles are float32) is checked in float32."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.conftest import check_grad

SHAPES = [(1, 1), (1, 10), (7, 13), (129, 257)]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- dense ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('B,K,N', [(1, 784, 256), (7, 13, 5), (129, 257, 70), (3, 64, 10)])
@pytest.mark.parametrize('use_bias', [True, False])
def test_dense_forward_and_backward(rng, B, K, N, use_bias):
    x = rng.standard_normal((B, K), dtype=np.float32)
    w = rng.standard_normal((K, N), dtype=np.float32) / np.sqrt(K).astype(np.float32)
    b = rng.standard_normal(N, dtype=np.float32) if use_bias else None
    R = rng.standard_normal((B, N), dtype=np.float32)  # loss = sum(out * R), so dout = R
    out = np.empty((B, N), np.float32)
    k.dense_forward(out, x, w, b)
    ref = x.astype(np.float64) @ w + (b if use_bias else 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)

    dx = np.empty_like(x)
    dw = np.full_like(w, 0.5)  # backward accumulates into parameter gradients
    db = np.full(N, 0.25, np.float32) if use_bias else None
    k.dense_backward(dx, dw, db, np.empty((N, K), np.float32), R, x, w)
    np.testing.assert_allclose(dx, R.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw - 0.5, x.T.astype(np.float64) @ R, rtol=1e-4, atol=1e-3)
    if use_bias:
        np.testing.assert_allclose(db - 0.25, R.sum(0), rtol=1e-4, atol=1e-4)

    def loss():
        k.dense_forward(out, x, w, b)
        return float((out.astype(np.float64) * R).sum())
    # The function is linear, so float32 differences with a large step are exact up to rounding.
    check_grad(loss, x, dx, rng, eps=0.5, rtol=2e-2, atol=2e-2 * np.sqrt(N))
    check_grad(loss, w, dw - 0.5, rng, eps=0.5, rtol=2e-2, atol=2e-2 * np.sqrt(B))
    if use_bias:
        check_grad(loss, b, db - 0.25, rng, eps=0.5, rtol=2e-2, atol=2e-2 * np.sqrt(B))


def test_dense_backward_skips_what_is_none(rng):
    x = rng.standard_normal((5, 7), dtype=np.float32)
    w = rng.standard_normal((7, 3), dtype=np.float32)
    dout = rng.standard_normal((5, 3), dtype=np.float32)
    dw = np.zeros_like(w)
    k.dense_backward(None, dw, None, None, dout, x, w)  # first layer: no input gradient
    np.testing.assert_allclose(dw, x.T @ dout, rtol=1e-5, atol=1e-5)
    dx = np.empty_like(x)
    k.dense_backward(dx, None, None, np.empty((3, 7), np.float32), dout, x, w)  # frozen layer
    np.testing.assert_allclose(dx, dout @ w.T, rtol=1e-5, atol=1e-5)


# ---- relu and softmax -------------------------------------------------------------------------------------
@pytest.mark.parametrize('shape', SHAPES)
def test_relu(rng, shape):
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink
    out = np.empty_like(x)
    k.relu_forward(out, x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    R = rng.standard_normal(shape)
    dx = np.empty_like(x)
    k.relu_backward(dx, R, out)
    np.testing.assert_array_equal(dx, R * (x > 0))

    def loss():
        k.relu_forward(out, x)
        return float((out * R).sum())
    check_grad(loss, x, dx, rng, eps=1e-6, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('shape', SHAPES)
def test_softmax(rng, shape):
    x = rng.standard_normal(shape) * 3
    out = np.empty_like(x)
    k.softmax_forward(out, x)
    np.testing.assert_allclose(out, _softmax(x), rtol=1e-12, atol=1e-14)
    R = rng.standard_normal(shape)
    dx = np.empty_like(x)
    k.softmax_backward(dx, R, out)
    p = _softmax(x)
    np.testing.assert_allclose(dx, p * (R - (R * p).sum(1, keepdims=True)), rtol=1e-10, atol=1e-12)

    def loss():
        k.softmax_forward(out, x)
        return float((out * R).sum())
    check_grad(loss, x, dx, rng, eps=1e-6, rtol=1e-5, atol=1e-8)


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], np.float32)
    out = np.empty_like(x)
    k.softmax_forward(out, x)
    np.testing.assert_allclose(out, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


# ---- softmax + cross-entropy --------------------------------------------------------------------------------
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
    np.testing.assert_allclose(probs, _softmax(z), rtol=1e-12, atol=1e-15)
    dz = np.empty_like(z)
    bwd(dz, probs, y)
    np.testing.assert_allclose(dz, (_softmax(z) - onehot) / B, rtol=1e-10, atol=1e-14)
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


# ---- mse ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('shape', SHAPES)
def test_mse(rng, shape):
    p = rng.standard_normal(shape)
    y = rng.standard_normal(shape)
    total = k.mse_forward(p, y)
    assert total == pytest.approx(((p - y) ** 2).mean(1).sum(), rel=1e-12)
    dp = np.empty_like(p)
    k.mse_backward(dp, p, y)
    np.testing.assert_allclose(dp, 2 * (p - y) / p.size, rtol=1e-12)
    # Quadratic, so central differences are exact but for rounding: a large step keeps that small.
    check_grad(lambda: k.mse_forward(p, y) / shape[0], p, dp, rng, eps=1e-2, rtol=1e-6, atol=1e-10)


# ---- optimizers ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('momentum,nesterov', [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_update_matches_keras_formulas(rng, momentum, nesterov):
    p = rng.standard_normal(1001)
    vel = rng.standard_normal(1001) * 0.1
    g = rng.standard_normal(1001)
    lr = 0.05
    p_ref, v_ref = p.copy(), vel.copy()
    if momentum == 0:
        p_ref -= lr * g
    else:
        v_ref = momentum * v_ref - lr * g
        p_ref = p_ref + (momentum * v_ref - lr * g if nesterov else v_ref)
    k.sgd_update(p, vel, g, lr, momentum, nesterov)
    np.testing.assert_allclose(p, p_ref, rtol=1e-12, atol=1e-14)
    if momentum:
        np.testing.assert_allclose(vel, v_ref, rtol=1e-12)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_adam_update_matches_keras_formulas(rng, dtype):
    n = 1001
    p = rng.standard_normal(n).astype(dtype)
    m = np.zeros(n, dtype)
    v = np.zeros(n, dtype)
    p_ref, m_ref, v_ref = p.astype(np.float64), np.zeros(n), np.zeros(n)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    for t in range(1, 6):
        g = rng.standard_normal(n).astype(dtype)
        k.adam_update(p, m, v, g, lr, b1, b2, eps, t)
        m_ref = b1 * m_ref + (1 - b1) * g
        v_ref = b2 * v_ref + (1 - b2) * g.astype(np.float64) ** 2
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p_ref -= alpha * m_ref / (np.sqrt(v_ref) + eps)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, p_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(m, m_ref, rtol=tol * 10, atol=tol)


# ---- merges, gather, accuracy -------------------------------------------------------------------------------------
@pytest.mark.parametrize('shape', SHAPES)
def test_add(rng, shape):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    out = np.empty_like(a)
    k.add_forward(out, a, b)
    np.testing.assert_array_equal(out, a + b)
    R = rng.standard_normal(shape)
    da = np.empty_like(a)
    k.add_backward(da, R)
    np.testing.assert_array_equal(da, R)
    check_grad(lambda: (k.add_forward(out, a, b), float((out * R).sum()))[1], a, da, rng, eps=1e-6,
               rtol=1e-6, atol=1e-9)


def test_concat(rng):
    a, b = rng.standard_normal((7, 3)), rng.standard_normal((7, 5))
    out = np.empty((7, 8))
    k.concat_forward(out, a, 0)
    k.concat_forward(out, b, 3)
    np.testing.assert_array_equal(out, np.concatenate([a, b], 1))
    R = rng.standard_normal((7, 8))
    db = np.empty_like(b)
    k.concat_backward(db, R, 3)
    np.testing.assert_array_equal(db, R[:, 3:])

    def loss():
        k.concat_forward(out, a, 0)
        k.concat_forward(out, b, 3)
        return float((out * R).sum())
    check_grad(loss, b, db, rng, eps=1e-6, rtol=1e-6, atol=1e-9)
    with pytest.raises(IndexError):
        k.concat_forward(out, b, 4)


def test_gather_rows(rng):
    src = rng.standard_normal((10, 4)).astype(np.float32)
    labels = np.arange(10, dtype=np.int64)
    idx = np.array([9, 0, 3])
    out = np.empty((3, 4), np.float32)
    k.gather_rows(out, src, idx)
    np.testing.assert_array_equal(out, src[idx])
    lab = np.empty(3, np.int64)
    k.gather_rows(lab, labels, idx)
    np.testing.assert_array_equal(lab, idx)
    with pytest.raises(IndexError):
        k.gather_rows(out, src, np.array([0, 10, 1]))
    with pytest.raises(IndexError):
        k.gather_rows(out, src, np.array([0, -1, 1]))


def test_accuracy_counts(rng):
    pred = rng.standard_normal((13, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 13)
    right = int((pred.argmax(1) == labels).sum())
    assert k.sparse_categorical_accuracy_count(pred, labels) == right
    assert k.categorical_accuracy_count(pred, np.eye(5, dtype=np.float32)[labels]) == right
    p1 = rng.random((9, 1)).astype(np.float32)
    t1 = (rng.random((9, 1)) > 0.5).astype(np.float32)
    assert k.binary_accuracy_count(p1, t1, 0.5) == int(((p1 > 0.5) == (t1 > 0.5)).sum())
    a, s = k.error_sums(pred, pred + 1)
    assert a == pytest.approx(65) and s == pytest.approx(65)
