"""The layernorm kernels against a float64 numpy reference, the analytic gradient and central differences
(float64 arrays, so the differences are precise), and 1 against 2 threads."""
import numba
import numpy as np
import pytest

from numbanet.kernels.cpu import layernorm as ln
from tests.helpers import check_grad

SHAPES = [(7, 13), (1, 5), (33, 3), (4, 1), (16, 70)]
EPS = 1e-3


def reference_forward(x, gamma, beta, eps=EPS):
    x = x.astype(np.float64)
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    return (x - mean) * invstd * gamma + beta, mean[:, 0], invstd[:, 0]


def reference_backward(dout, x, gamma, eps=EPS):
    dout, x = dout.astype(np.float64), x.astype(np.float64)
    C = x.shape[1]
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv
    g = dout * gamma
    dx = inv / C * (C * g - g.sum(1, keepdims=True) - xhat * (g * xhat).sum(1, keepdims=True))
    return dx, (dout * xhat).sum(0), dout.sum(0)


def work(C):
    """The backward's scratch: its contents are undefined on entry, so NaN shows a kernel that reads before writing."""
    return np.full((4, C), np.nan)


def data(rng, shape, dtype=np.float32):
    R, C = shape
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    return x, (rng.standard_normal(C) + 1).astype(dtype), rng.standard_normal(C).astype(dtype)


@pytest.mark.parametrize('shape', SHAPES)
def test_forward(rng, shape):
    x, gamma, beta = data(rng, shape)
    R = shape[0]
    out, mean, invstd = np.empty_like(x), np.empty(R, np.float32), np.empty(R, np.float32)
    ln.layernorm_forward(out, mean, invstd, x, gamma, beta, EPS)
    want, want_mean, want_invstd = reference_forward(x, gamma, beta)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(invstd, want_invstd, rtol=1e-6)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('shape', SHAPES)
def test_backward_is_the_gradient_of_the_forward(rng, shape):
    x, gamma, beta = data(rng, shape, np.float64)
    R, C = shape
    out, mean, invstd = np.empty_like(x), np.empty(R), np.empty(R)
    ln.layernorm_forward(out, mean, invstd, x, gamma, beta, EPS)
    dout = rng.standard_normal(shape)
    dx, dgamma0, dbeta0 = np.empty_like(x), rng.standard_normal(C), rng.standard_normal(C)
    dgamma, dbeta = dgamma0.copy(), dbeta0.copy()
    ln.layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work(x.shape[1]))
    want_dx, want_dgamma, want_dbeta = reference_backward(dout, x, gamma)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dgamma - dgamma0, want_dgamma, rtol=1e-9, atol=1e-12)  # accumulated
    np.testing.assert_allclose(dbeta - dbeta0, want_dbeta, rtol=1e-9, atol=1e-12)

    def loss():
        ln.layernorm_forward(out, np.empty(R), np.empty(R), x, gamma, beta, EPS)
        return float((out * dout).sum())
    for wrt, grad in ((x, dx), (gamma, dgamma - dgamma0), (beta, dbeta - dbeta0)):
        check_grad(loss, wrt, grad, rng, eps=1e-6, rtol=1e-5, atol=1e-7)


def test_float32_backward_and_accumulation(rng):
    x, gamma, beta = data(rng, (9, 6))
    out, mean, invstd = np.empty_like(x), np.empty(9, np.float32), np.empty(9, np.float32)
    ln.layernorm_forward(out, mean, invstd, x, gamma, beta, EPS)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    dx, dgamma, dbeta = np.empty_like(x), np.zeros(6, np.float32), np.zeros(6, np.float32)
    ln.layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work(x.shape[1]))
    want_dx, want_dgamma, want_dbeta = reference_backward(dout, x, gamma)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dgamma, want_dgamma, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dbeta, want_dbeta, rtol=1e-6, atol=1e-6)
    ln.layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work(x.shape[1]))
    np.testing.assert_allclose(dgamma, 2 * want_dgamma, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dbeta, 2 * want_dbeta, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-6)  # overwritten, not added


def test_constant_row(rng):
    # No spread: the row normalizes to beta (epsilon keeps invstd finite) and passes no gradient but gamma's.
    x = np.full((2, 5), 3.0, np.float32)
    gamma, beta = np.ones(5, np.float32), rng.standard_normal(5).astype(np.float32)
    out, mean, invstd = np.empty_like(x), np.empty(2, np.float32), np.empty(2, np.float32)
    ln.layernorm_forward(out, mean, invstd, x, gamma, beta, EPS)
    np.testing.assert_allclose(out, np.broadcast_to(beta, x.shape), atol=1e-7)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(EPS), rtol=1e-6)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason='needs two threads')
@pytest.mark.parametrize('shape', [(301, 67), (3, 5)])
def test_same_bits_on_one_and_two_threads(rng, monkeypatch, shape):
    x, gamma, beta = data(rng, shape)
    dout = rng.standard_normal(shape).astype(np.float32)
    R, C = shape

    def run():
        out, mean, invstd = np.empty_like(x), np.empty(R, np.float32), np.empty(R, np.float32)
        ln.layernorm_forward(out, mean, invstd, x, gamma, beta, EPS)
        dx, dgamma, dbeta = np.empty_like(x), np.ones(C, np.float32), np.ones(C, np.float32)
        ln.layernorm_backward(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, work(x.shape[1]))
        return out, mean, invstd, dx, dgamma, dbeta

    serial = run()
    monkeypatch.setattr(ln, 'PARALLEL_MIN', 0)
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            for got, want in zip(run(), serial):
                np.testing.assert_array_equal(got, want)
    finally:
        numba.set_num_threads(before)


def test_work_of_the_wrong_shape_is_refused(rng):
    x, gamma, _ = data(rng, (5, 6))
    v = np.ones(5, np.float32)
    for bad in (np.empty((4, 5)), np.empty((2, 6)), np.empty(24)):
        with pytest.raises(ValueError, match=r'shape \(4, 6\)'):
            ln.layernorm_backward(np.empty_like(x), gamma.copy(), gamma.copy(), x, x, v, v, gamma, bad)


@numba.njit
def _jitted_tiles(x, dout, gamma, mean, invstd, r, c, m, s):
    return (ln._tile_x(x, r, c, s), ln._tile_sq(x, r, c, m, s),
            ln._tile_g(dout, gamma, x, mean, invstd, r, c, s, s[::-1]))


@pytest.mark.parametrize('layout', ['C', 'strided', 'F'])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_vector_tiles_are_their_plain_definition_bit_for_bit(rng, layout, dtype):
    # The jitted tiles are LLVM vector code; the plain-Python ones say what they compute, one row at a time.
    x, gamma, _ = data(rng, (13, 42), dtype)
    dout = rng.standard_normal((13, 42)).astype(np.float32)  # another dtype than x's, as in mixed precision
    if layout == 'strided':
        x, gamma = x[:, ::2], gamma[::2]
    elif layout == 'F':
        x = np.asfortranarray(x[:, :21])
    dout, gamma = np.ascontiguousarray(dout[:, :21]) if layout == 'C' else dout[:, :21], gamma[:21]
    mean, invstd = rng.standard_normal(13).astype(np.float32), rng.random(13)
    m, s = tuple(rng.standard_normal(8)), tuple(rng.standard_normal(8) * 100)
    for r, c in ((0, 0), (3, 5), (5, 13)):
        got = _jitted_tiles(x, dout, gamma, mean, invstd, r, c, m, s)
        want = (ln._tile_x(x, r, c, s), ln._tile_sq(x, r, c, m, s),
                ln._tile_g(dout, gamma, x, mean, invstd, r, c, s, s[::-1]))
        np.testing.assert_array_equal(np.array(got[0]), np.array(want[0]))
        np.testing.assert_array_equal(np.array(got[1]), np.array(want[1]))
        np.testing.assert_array_equal(np.array(got[2]), np.array(want[2]))


@pytest.mark.parametrize('C', [24, 21, 5])
def test_a_row_in_a_tile_gets_the_bits_it_gets_alone(rng, C):
    # 8 rows share a tile; the rest go one by one. Which it is must not change a row's result.
    R = 19
    x, gamma, beta = data(rng, (R, C))
    dout = rng.standard_normal((R, C)).astype(np.float32)

    def run(xs, douts):
        n = xs.shape[0]
        out, mean, invstd = np.empty_like(xs), np.empty(n, np.float32), np.empty(n, np.float32)
        ln.layernorm_forward(out, mean, invstd, xs, gamma, beta, EPS)
        dx, dgamma, dbeta = np.empty_like(xs), np.zeros(C, np.float32), np.zeros(C, np.float32)
        ln.layernorm_backward(dx, dgamma, dbeta, douts, xs, mean, invstd, gamma, work(C))
        return out, mean, invstd, dx

    together = run(x, dout)
    for r in range(R):
        for got, want in zip(run(x[r:r + 1], dout[r:r + 1]), together):
            np.testing.assert_array_equal(got, want[r:r + 1])
