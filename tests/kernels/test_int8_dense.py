"""The int8 dense kernel against exact integer arithmetic and its plain reference, and the
quantizers of its input rows."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k


def _int8_operands(rng, B, K, N):
    from numbanet.kernels.cpu.int8_dense import _padded_k
    xq_signed = rng.integers(-127, 128, (B, K))
    xq = np.full((B, _padded_k(K)), 128, np.uint8)  # stored shifted to unsigned, padded with the code of 0
    xq[:, :K] = xq_signed + 128
    wq = rng.integers(-127, 128, (K, N)).astype(np.int8)
    xs = rng.random(B).astype(np.float32) + 0.1
    ws = rng.random(N).astype(np.float32) + 0.1
    bias = rng.standard_normal(N).astype(np.float32)
    exact = (xq_signed @ wq.astype(np.int64)).astype(np.float64) * xs[:, None] * ws[None, :] + bias
    return xq, wq, xs, ws, bias, exact


@pytest.mark.parametrize('B,K,N', [(1, 784, 256), (7, 13, 70), (129, 257, 10), (5, 3, 130), (8, 64, 64), (4, 5, 17)])
def test_int8_dense_matches_exact_integer_arithmetic(rng, B, K, N):
    xq, wq, xs, ws, bias, exact = _int8_operands(rng, B, K, N)
    packed, colsum = k.pack_int8_weights(wq)
    assert packed.shape[1] % 16 == 0 and np.array_equal(colsum[:N], wq.astype(np.int32).sum(0))
    out, ref = np.empty((B, N), np.float32), np.empty((B, N), np.float32)
    k.int8_dense_forward(out, xq, xs, packed, colsum, ws, bias)  # the VNNI tiles where the CPU has them
    k.int8_dense_reference(ref, xq, xs, packed, colsum, ws, bias)
    np.testing.assert_array_equal(out, ref)  # both sum the same integers exactly
    np.testing.assert_allclose(out, exact, rtol=1e-6, atol=1e-6 * np.abs(exact).max())
    k.int8_dense_forward(out, xq, xs, packed, colsum, ws, None)
    np.testing.assert_allclose(out, exact - bias, rtol=1e-6, atol=1e-6 * np.abs(exact).max())


def test_int8_dense_refuses_operands_that_do_not_fit(rng):
    xq, wq, xs, ws, bias, _ = _int8_operands(rng, 4, 8, 5)
    packed, colsum = k.pack_int8_weights(wq)
    with pytest.raises(ValueError, match='do not fit'):
        k.int8_dense_forward(np.empty((4, 6), np.float32), xq, xs, packed, colsum, ws, bias)
    with pytest.raises(ValueError, match='do not fit'):
        k.int8_dense_forward(np.empty((4, 5), np.float32), xq[:, :4], xs, packed, colsum, ws, bias)


def test_quantize_rows_and_static(rng):
    x = rng.standard_normal((9, 31)).astype(np.float32) * np.array([[0.01], [100]] * 4 + [[0.0]], np.float32)
    q, s = np.empty((9, 32), np.uint8), np.empty(9, np.float32)
    k.quantize_rows(q, s, x)
    scale = np.abs(x).max(1) / 127
    scale[scale == 0] = 1
    np.testing.assert_allclose(s, scale, rtol=1e-6)
    signed = q.astype(np.int32) - 128
    np.testing.assert_array_equal(signed[:, :31], np.clip(np.rint(x / scale[:, None]), -127, 127))
    assert (signed[:, 31] == 0).all()  # the padding codes zero
    assert np.abs(signed[:, :31] * s[:, None] - x).max() <= (s.max() / 2) * 1.0001
    k.quantize_static(q, s, x, 0.05)  # saturates beyond 127 * 0.05
    assert (s == np.float32(0.05)).all() and q.max() == 255 and q.min() == 1
