"""The pooling and zero-padding kernels against numpy references that pad explicitly (-inf for max, a
zero mask for average), on odd shapes with 'valid' and 'same' geometry, overlapping windows and strides
past the window; their gradients by central differences; shapes that do not fit refused before any
kernel runs; and 1 against 2 threads."""
import numba
import numpy as np
import pytest

from numbanet.kernels.cpu import pooling as k
from tests.helpers import check_grad

SHAPES = [(3, 7, 9, 5), (2, 5, 4, 3)]
# (pool_h, pool_w, stride_h, stride_w, padding)
GEOMETRIES = [(2, 2, 2, 2, 'valid'), (3, 3, 2, 2, 'same'), (2, 3, 1, 2, 'valid'), (3, 2, 1, 1, 'same'),
              (3, 3, 3, 3, 'valid'), (2, 2, 3, 3, 'same'), (3, 3, 1, 1, 'valid'), (2, 2, 1, 1, 'same'),
              (1, 3, 1, 3, 'same')]


def keras_size(size, pool, stride, padding):
    """(out, pad before, pad after) by Keras's rules."""
    if padding == 'valid':
        return (size - pool) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + pool - size, 0)
    return out, total // 2, total - total // 2


def geometry(shape, geom):
    ph, pw, sh, sw, padding = geom
    (oh, pt, pb), (ow, pl, pr) = keras_size(shape[1], ph, sh, padding), keras_size(shape[2], pw, sw, padding)
    return (shape[0], oh, ow, shape[3]), (ph, pw, sh, sw, pt, pl), ((pt, pb), (pl, pr))


def windows(padded, out_shape, sizes):
    """Each output cell's window of the explicitly padded input: (N, OH, OW, ph * pw, C)."""
    ph, pw, sh, sw = sizes[:4]
    N, OH, OW, C = out_shape
    win = np.empty((N, OH, OW, ph * pw, C), padded.dtype)
    for oh in range(OH):
        for ow in range(OW):
            win[:, oh, ow] = padded[:, oh * sh:oh * sh + ph, ow * sw:ow * sw + pw].reshape(N, ph * pw, C)
    return win


def reference_max(x, out_shape, sizes, pads):
    ph, pw, sh, sw, pt, pl = sizes
    padded = np.pad(x.astype(np.float64), ((0, 0),) + pads + ((0, 0),), constant_values=-np.inf)
    win = windows(padded, out_shape, sizes)
    first = win.argmax(3)  # the first of equal values, in row-major (scan) order
    oh = np.arange(out_shape[1])[None, :, None, None]
    ow = np.arange(out_shape[2])[None, None, :, None]
    h, w = oh * sh + first // pw - pt, ow * sw + first % pw - pl
    return win.max(3), (h * x.shape[2] + w).astype(np.int32)


def reference_max_backward(dout, argmax, in_shape):
    N, H, W, C = in_shape
    dx = np.zeros((N, H * W, C))
    n, _, _, c = np.indices(dout.shape)
    np.add.at(dx, (n, argmax, c), dout.astype(np.float64))
    return dx.reshape(in_shape)


def reference_avg(x, out_shape, sizes, pads):
    widths = ((0, 0),) + pads + ((0, 0),)
    total = windows(np.pad(x.astype(np.float64), widths), out_shape, sizes).sum(3)
    count = windows(np.pad(np.ones_like(x, np.float64), widths), out_shape, sizes).sum(3)
    return total / count


def reference_avg_backward(dout, in_shape, sizes, pads):
    # The transpose of reference_avg: scatter dout / count over each window of the padded input.
    ph, pw, sh, sw = sizes[:4]
    (pt, pb), (pl, pr) = pads
    N, H, W, C = in_shape
    count = windows(np.pad(np.ones(in_shape), ((0, 0),) + pads + ((0, 0),)), dout.shape, sizes).sum(3)
    dpad = np.zeros((N, H + pt + pb, W + pl + pr, C))
    for oh in range(dout.shape[1]):
        for ow in range(dout.shape[2]):
            dpad[:, oh * sh:oh * sh + ph, ow * sw:ow * sw + pw] += (dout[:, oh, ow] / count[:, oh, ow])[:, None, None]
    return dpad[:, pt:pt + H, pl:pl + W]


def distinct(rng, shape):
    """Values without ties, a quarter apart: a max stays put under a step of EPS. Both are powers of two,
    so x +- EPS and every max are exact in float32."""
    size = int(np.prod(shape))
    return ((rng.permutation(size).reshape(shape) - size // 2) * 0.25).astype(np.float32)


EPS = 1 / 16


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('geom', GEOMETRIES)
def test_max_pool_matches_numpy(rng, shape, geom):
    out_shape, sizes, pads = geometry(shape, geom)
    x = rng.integers(-2, 3, shape).astype(np.float32)  # many ties: the first in scan order wins
    out, argmax = np.full(out_shape, np.nan, np.float32), np.full(out_shape, -7, np.int32)
    k.max_pool2d_forward(out, argmax, x, *sizes)
    want, want_arg = reference_max(x, out_shape, sizes, pads)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(argmax, want_arg)
    dout = rng.standard_normal(out_shape).astype(np.float32)
    dx = np.full(shape, np.nan, np.float32)  # overwritten, every cell
    k.max_pool2d_backward(dx, dout, argmax)
    np.testing.assert_allclose(dx, reference_max_backward(dout, argmax, shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('geom', GEOMETRIES)
def test_avg_pool_matches_numpy(rng, shape, geom):
    out_shape, sizes, pads = geometry(shape, geom)
    x = rng.standard_normal(shape).astype(np.float32)
    out = np.full(out_shape, np.nan, np.float32)
    k.avg_pool2d_forward(out, x, *sizes)
    np.testing.assert_allclose(out, reference_avg(x, out_shape, sizes, pads), rtol=1e-5, atol=1e-6)
    dout = rng.standard_normal(out_shape).astype(np.float32)
    dx = np.full(shape, np.nan, np.float32)
    k.avg_pool2d_backward(dx, dout, *sizes)
    np.testing.assert_allclose(dx, reference_avg_backward(dout, shape, sizes, pads), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('geom', [(3, 3, 2, 2, 'same'), (3, 2, 1, 1, 'same'), (2, 3, 1, 2, 'valid')])
def test_pooling_gradients_by_central_differences(rng, geom):
    shape = SHAPES[0]
    out_shape, sizes, _ = geometry(shape, geom)
    x = distinct(rng, shape)
    out, argmax = np.empty(out_shape, np.float32), np.empty(out_shape, np.int32)
    R = rng.standard_normal(out_shape).astype(np.float32)
    dx = np.empty_like(x)

    def max_loss():
        k.max_pool2d_forward(out, argmax, x, *sizes)
        return float((out.astype(np.float64) * R).sum())
    max_loss()
    k.max_pool2d_backward(dx, R, argmax)
    check_grad(max_loss, x, dx, rng, eps=EPS, rtol=1e-6, atol=1e-7)  # linear between ties, exact steps

    def avg_loss():
        k.avg_pool2d_forward(out, x, *sizes)
        return float((out.astype(np.float64) * R).sum())
    x[:] = rng.standard_normal(shape)
    k.avg_pool2d_backward(dx, R, *sizes)
    check_grad(avg_loss, x, dx, rng, eps=0.5, rtol=1e-5, atol=1e-6)  # linear in x: any step is exact


@pytest.mark.parametrize('shape', SHAPES + [(1, 1, 1, 1), (2, 1, 6, 3)])
def test_global_pooling_matches_numpy(rng, shape):
    N, H, W, C = shape
    x = rng.integers(-2, 3, shape).astype(np.float32)
    out, argmax = np.full((N, C), np.nan, np.float32), np.full((N, C), -7, np.int32)
    k.global_max_pool2d_forward(out, argmax, x)
    flat = x.reshape(N, H * W, C)
    np.testing.assert_array_equal(out, flat.max(1))
    np.testing.assert_array_equal(argmax, flat.argmax(1))  # the first of ties
    dout = rng.standard_normal((N, C)).astype(np.float32)
    dx = np.full(shape, np.nan, np.float32)
    k.global_max_pool2d_backward(dx, dout, argmax)
    want = np.zeros((N, H * W, C), np.float32)
    np.put_along_axis(want, flat.argmax(1)[:, None], dout[:, None], 1)
    np.testing.assert_array_equal(dx, want.reshape(shape))

    x = rng.standard_normal(shape).astype(np.float32)
    k.global_avg_pool2d_forward(out, x)
    np.testing.assert_allclose(out, x.astype(np.float64).mean((1, 2)), rtol=1e-5, atol=1e-6)
    k.global_avg_pool2d_backward(dx, dout)
    np.testing.assert_allclose(dx, np.broadcast_to(dout[:, None, None] / (H * W), shape), rtol=1e-6)

    x = distinct(rng, shape)
    R = rng.standard_normal((N, C)).astype(np.float32)

    def loss(kind):
        if kind == 'max':
            k.global_max_pool2d_forward(out, argmax, x)
        else:
            k.global_avg_pool2d_forward(out, x)
        return float((out.astype(np.float64) * R).sum())
    loss('max')
    k.global_max_pool2d_backward(dx, R, argmax)
    check_grad(lambda: loss('max'), x, dx, rng, eps=EPS, rtol=1e-6, atol=1e-7)
    x[:] = rng.standard_normal(shape)
    k.global_avg_pool2d_backward(dx, R)
    check_grad(lambda: loss('avg'), x, dx, rng, eps=0.5, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('pads', [((1, 1), (1, 1)), ((0, 2), (3, 0)), ((2, 0), (0, 1)), ((0, 0), (0, 0))])
def test_zero_padding(rng, pads):
    N, H, W, C = SHAPES[0]
    (t, b), (l, r) = pads
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    out = np.full((N, H + t + b, W + l + r, C), np.nan, np.float32)
    k.zero_pad2d_forward(out, x, t, l)
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (t, b), (l, r), (0, 0))))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = np.full_like(x, np.nan)
    k.zero_pad2d_backward(dx, dout, t, l)
    np.testing.assert_array_equal(dx, dout[:, t:t + H, l:l + W])


def test_a_stray_argmax_is_skipped_not_written():
    dx = np.full((1, 2, 2, 1), np.nan, np.float32)
    argmax = np.array([-1, 4, 2 ** 31 - 1, 3], np.int32).reshape(1, 2, 2, 1)
    k.max_pool2d_backward(dx, np.ones((1, 2, 2, 1), np.float32), argmax)
    np.testing.assert_array_equal(dx.ravel(), [0, 0, 0, 1])  # only the last is a cell


def _refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_shapes_that_do_not_fit_are_refused():
    x = np.zeros((3, 7, 9, 5), np.float32)
    out, argmax = np.zeros((3, 3, 4, 5), np.float32), np.zeros((3, 3, 4, 5), np.int32)  # 2x2 windows, stride 2
    k.max_pool2d_forward(out, argmax, x, 2, 2, 2, 2, 0, 0)
    _refused(lambda: k.max_pool2d_forward(out, argmax, x, 2, 2, 1, 2, 0, 0), r'gives \(N, H, W, C\) = \(3, 6')
    _refused(lambda: k.max_pool2d_forward(out, argmax, x, 3, 3, 3, 3, 0, 0), r'= \(3, 2, 3, 5\), not \(3, 3, 4, 5\)')
    _refused(lambda: k.max_pool2d_forward(out, argmax, x, 2, 2, 2, 2, 0, 1), 'padded 0 on top and 1 on the left')
    _refused(lambda: k.max_pool2d_forward(out[:2], argmax[:2], x, 2, 2, 2, 2, 0, 0), 'gives')
    _refused(lambda: k.max_pool2d_forward(out, argmax[:2], x, 2, 2, 2, 2, 0, 0), 'argmax must be shaped')
    _refused(lambda: k.max_pool2d_forward(out, argmax.astype(np.int64), x, 2, 2, 2, 2, 0, 0), 'int32')
    _refused(lambda: k.max_pool2d_forward(out, argmax, x.astype(np.float64), 2, 2, 2, 2, 0, 0), 'float32')
    _refused(lambda: k.max_pool2d_forward(out, argmax, x[:, :, :, ::-1], 2, 2, 2, 2, 0, 0), 'contiguous')
    _refused(lambda: k.max_pool2d_forward(out, argmax, x, 0, 2, 2, 2, 0, 0), 'pool_h must be an int >= 1, got 0')
    _refused(lambda: k.max_pool2d_forward(out, argmax, x, 2, 2, 2, 2.0, 0, 0), 'stride_w')
    _refused(lambda: k.max_pool2d_forward(out, argmax, x, 2, 2, 2, 2, -1, 0), 'pad_top must be an int >= 0')
    # padding as large as the window: its edge windows would hold padding only
    _refused(lambda: k.avg_pool2d_forward(np.zeros((3, 4, 5, 5), np.float32), x, 2, 2, 2, 2, 2, 0), 'none')
    one_row = np.zeros((3, 1, 9, 5), np.float32)  # 2 rows to a window: one output row, padded below ('same')
    _refused(lambda: k.avg_pool2d_forward(out, one_row, 2, 2, 2, 2, 0, 0), r'= \(3, 1, 4 or 5, 5\)')
    _refused(lambda: k.avg_pool2d_backward(x, out, 3, 3, 3, 3, 0, 0), 'avg_pool2d_backward')
    _refused(lambda: k.max_pool2d_backward(x, out, argmax[:1]), 'argmax must be shaped')
    _refused(lambda: k.max_pool2d_backward(x[:, :, :, :4].copy(), out, argmax), 'differ in batch or channels')
    pooled, where = np.zeros((3, 5), np.float32), np.zeros((3, 5), np.int32)
    _refused(lambda: k.global_avg_pool2d_forward(np.zeros((3, 4), np.float32), x), r'pool to \(3, 5\)')
    _refused(lambda: k.global_avg_pool2d_backward(x, pooled[:2]), r'pool to \(3, 5\)')
    _refused(lambda: k.global_max_pool2d_forward(pooled, where[:2], x), 'argmax must be shaped')
    _refused(lambda: k.global_max_pool2d_backward(x, pooled, where.astype(np.float32)), 'int32')
    _refused(lambda: k.global_max_pool2d_forward(pooled, where, x[:, :0]), 'at least 1')
    big = np.zeros((3, 9, 11, 5), np.float32)
    _refused(lambda: k.zero_pad2d_forward(big, x, 3, 0), 'does not fit')
    _refused(lambda: k.zero_pad2d_backward(x, big, 0, -1), 'left must be an int >= 0')
    _refused(lambda: k.zero_pad2d_backward(x, np.zeros((3, 9, 11, 2), np.float32), 0, 0), 'differ in batch or channels')


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason='needs two threads')
def test_same_bits_on_one_and_two_threads(rng, monkeypatch):
    shape = (5, 7, 9, 3)
    out_shape, sizes, _ = geometry(shape, (3, 3, 1, 2, 'same'))
    x = rng.standard_normal(shape).astype(np.float32)
    dout, dg = rng.standard_normal(out_shape).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
    padded = rng.standard_normal((5, 10, 10, 3)).astype(np.float32)

    def run():
        out, argmax, dx = np.empty(out_shape, np.float32), np.empty(out_shape, np.int32), np.empty_like(x)
        g, garg, gdx, pad, pdx = (np.empty((5, 3), np.float32), np.empty((5, 3), np.int32), np.empty_like(x),
                                  np.empty_like(padded), np.empty_like(x))
        k.max_pool2d_forward(out, argmax, x, *sizes)
        k.max_pool2d_backward(dx, dout, argmax)
        results = [out.copy(), argmax, dx.copy()]
        k.avg_pool2d_forward(out, x, *sizes)
        k.avg_pool2d_backward(dx, dout, *sizes)
        k.global_max_pool2d_forward(g, garg, x)
        k.global_max_pool2d_backward(gdx, dg, garg)
        results += [out, dx, g.copy(), garg, gdx.copy()]
        k.global_avg_pool2d_forward(g, x)
        k.global_avg_pool2d_backward(gdx, dg)
        k.zero_pad2d_forward(pad, x, 2, 1)
        k.zero_pad2d_backward(pdx, padded, 2, 1)
        return results + [g, gdx, pad, pdx]
    serial = run()
    monkeypatch.setattr(k, 'PARALLEL_MIN', 0)
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            for got, want in zip(run(), serial):
                np.testing.assert_array_equal(got, want)
    finally:
        numba.set_num_threads(before)
