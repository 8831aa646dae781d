"""dense_forward and dense_backward against numpy and central differences, on odd shapes and batch
size 1; checked in float32, the dtype of the matmul tiles."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import check_grad


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


def test_dense_backward_writes_the_parameter_gradients_when_not_accumulating(rng):
    # A plan's first backward call to reach a Dense layer's gradients writes them, unzeroed (plan.py).
    x = rng.standard_normal((129, 70), dtype=np.float32)
    w = rng.standard_normal((70, 33), dtype=np.float32)
    dout = rng.standard_normal((129, 33), dtype=np.float32)
    dw, db = np.full_like(w, np.nan), np.full(33, np.nan, np.float32)
    k.dense_backward(None, dw, db, None, dout, x, w, False)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ dout, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dout.sum(0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r'dense_backward: dbias must be shaped \(33,\)'):
        k.dense_backward(None, dw, db[:-1], None, dout, x, w)


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
