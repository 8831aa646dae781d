"""conv2d_relu_maxpool_forward / _backward against plain numpy (convolution, ReLU, 2x2 max pooling composed) and
central differences, on odd shapes: H, W, C, F no multiple of any tile, odd Ho and Wo (the pooling drops the last
row and column), windows whose max is <= 0, ties; strides, dilation and padding; and the thread count."""
import numba
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from numbanet.kernels import shapes
from tests.helpers import check_grad
from tests.kernels.test_conv2d import numpy_conv, out_size

# (N, H, W, C, F, KH, KW, geometry = (stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w))
CASES = [
    (3, 9, 8, 5, 6, 3, 3, (1, 1, 0, 0, 1, 1)),       # Ho 7, Wo 6: the last row does not pool
    (2, 11, 10, 3, 70, 3, 2, (2, 2, 0, 0, 1, 1)),    # stride 2, a non-square kernel, 64 + 6 filters
    (2, 9, 7, 3, 4, 3, 3, (1, 1, 2, 2, 2, 2)),       # dilation 2, 'same' padding
    (11, 12, 11, 1, 33, 3, 3, (1, 1, 0, 0, 1, 1)),   # a first layer, two parts of images, Wo 9
    (1, 3, 4, 2, 1, 2, 2, (1, 1, 0, 0, 1, 1)),       # one pooled row, one filter
]


def numpy_conv_relu_pool(x, w, b, geometry):
    """(pooled, conv): numpy's convolution in float64, ReLU, and the 2x2 max over the windows that fit."""
    N, H, W, C = x.shape
    Ho, Wo = out_size(H, W, w.shape[0], w.shape[1], geometry)
    conv = numpy_conv(x, w, b, geometry, (Ho, Wo))
    r = np.maximum(conv, 0)[:, :Ho // 2 * 2, :Wo // 2 * 2]
    pooled = r.reshape(N, Ho // 2, 2, Wo // 2, 2, -1).max(axis=(2, 4))
    return pooled, conv


def buffers(N, Ho, Wo, KH, KW, C, F):
    parts = shapes.image_parts(N)
    return dict(out=np.full((N, Ho // 2, Wo // 2, F), np.nan, np.float32),
                which=np.full((N, Ho // 2, Wo // 2, F), 9, np.uint8),
                scratch=np.full((parts, Ho, Wo, F), np.nan, np.float32),
                col=np.empty((N * Ho * Wo, KH * KW * C), np.float32),
                weight_t=np.empty((F, KH * KW * C), np.float32),
                weight_parts=np.empty((parts, KH * KW * C, F), np.float32),
                bias_parts=np.empty((parts, F), np.float32))


def setup(rng, N, H, W, C, F, KH, KW, geometry, use_bias=True):
    Ho, Wo = out_size(H, W, KH, KW, geometry)
    x = rng.standard_normal((N, H, W, C), dtype=np.float32)
    w = (rng.standard_normal((KH, KW, C, F)) / np.sqrt(KH * KW * C)).astype(np.float32)
    b = rng.standard_normal(F, dtype=np.float32) * 0.3 if use_bias else None
    return x, w, b, buffers(N, Ho, Wo, KH, KW, C, F), (Ho, Wo)


def forward(ws, x, w, b, geometry):
    k.conv2d_relu_maxpool_forward(ws['out'], ws['which'], ws['scratch'], ws['col'], x, w, b, geometry)
    return ws['out']


def backward(ws, dx, dw, db, dout, x, w, geometry):
    k.conv2d_relu_maxpool_backward(dx, dw, db, ws['weight_t'], ws['weight_parts'], ws['bias_parts'], ws['scratch'],
                                   ws['col'], dout, ws['which'], x, w, geometry)


def numpy_grads(x, w, b, geometry, dout):
    """dx, dw, db of sum(pooled * dout) in numpy: dout goes to the first largest cell of each window when it is
    positive (as the unfused max pooling and ReLU do), then through the convolution's adjoint."""
    pooled, conv = numpy_conv_relu_pool(x, w, b, geometry)
    N, Ho, Wo, F = conv.shape
    Hp, Wp = Ho // 2, Wo // 2
    win = conv[:, :2 * Hp, :2 * Wp].reshape(N, Hp, 2, Wp, 2, F).transpose(0, 1, 3, 5, 2, 4).reshape(N, Hp, Wp, F, 4)
    first = win.argmax(-1)
    dconv_win = np.zeros_like(win)
    np.put_along_axis(dconv_win, first[..., None], np.where(win.max(-1) > 0, dout, 0)[..., None], -1)
    dconv = np.zeros_like(conv)
    dconv[:, :2 * Hp, :2 * Wp] = dconv_win.reshape(N, Hp, Wp, F, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(
        N, 2 * Hp, 2 * Wp, F)
    sh, sw, pt, pl, dh, dw_ = geometry
    KH, KW, C, _ = w.shape
    H, W = x.shape[1], x.shape[2]
    padded = np.zeros((N, pt + H + KH * dh + Ho * sh, pl + W + KW * dw_ + Wo * sw, C))
    padded[:, pt:pt + H, pl:pl + W] = x
    grad_w, grad_p = np.zeros(w.shape), np.zeros_like(padded)
    for ky in range(KH):
        for kx in range(KW):
            sl = (slice(None), slice(ky * dh, ky * dh + Ho * sh, sh), slice(kx * dw_, kx * dw_ + Wo * sw, sw))
            grad_w[ky, kx] = np.einsum('nyxc,nyxf->cf', padded[sl], dconv)
            grad_p[sl] += dconv @ w[ky, kx].T.astype(np.float64)
    return grad_p[:, pt:pt + H, pl:pl + W], grad_w, dconv.sum((0, 1, 2)), pooled


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('use_bias', [True, False])
def test_forward_and_backward_against_numpy(rng, case, use_bias):
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, ws, (Ho, Wo) = setup(rng, *case, use_bias=use_bias)
    out = forward(ws, x, w, b, geometry)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    want_dx, want_dw, want_db, pooled = numpy_grads(x, w, b, geometry, dout)
    np.testing.assert_allclose(out, pooled, rtol=1e-4, atol=1e-4)
    assert (ws['which'] <= shapes.NO_WINNER).all()
    assert ((ws['which'] == shapes.NO_WINNER) == (out == 0)).all()
    if out.size > 20:  # both kinds of window occur
        assert (ws['which'] == shapes.NO_WINNER).any() and (ws['which'] < shapes.NO_WINNER).any()
    dx, dw, db = np.full_like(x, np.nan), np.full_like(w, 0.5), np.full(F, 0.25, np.float32)
    backward(ws, dx, dw, db if use_bias else None, dout, x, w, geometry)
    scale = np.sqrt(N * Ho * Wo)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4 * np.sqrt(F))
    np.testing.assert_allclose(dw - 0.5, want_dw, rtol=1e-4, atol=1e-4 * scale)
    if use_bias:
        np.testing.assert_allclose(db - 0.25, want_db, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize('case', [CASES[0], CASES[2]])
def test_gradients_by_central_differences(rng, case):
    # Piecewise linear: small steps that change no window's winner and no ReLU's sign give exact slopes up to
    # rounding; float64 sums of the float32 output keep the rounding small.
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, ws, _ = setup(rng, *case)
    out = forward(ws, x, w, b, geometry)
    R = rng.standard_normal(out.shape, dtype=np.float32)
    dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros(F, np.float32)
    backward(ws, dx, dw, db, R, x, w, geometry)
    other = buffers(N, *out_size(H, W, KH, KW, geometry), KH, KW, C, F)

    def loss():
        return float((forward(other, x, w, b, geometry).astype(np.float64) * R).sum())
    for value, grad in ((x, dx), (w, dw), (b, db)):
        check_grad(loss, value, grad, rng, eps=1e-3, rtol=5e-2, atol=5e-2)


def test_windows_with_ties_and_no_positive_value(rng):
    # A 1x1 kernel of weight 1 and no bias: the convolution is the input, so the windows can be chosen.
    x = np.array([[[1, 1, 0], [-1, 2, 5]], [[-1, -2, 7], [0, 0, 7]], [[3, 3, 3], [3, 3, 3]]], np.float32)
    x = x.transpose(1, 2, 0)[None].copy()  # (1, 2, 3, 3): channel 0 ties at 1, 1 has no positive value
    w = np.ones((1, 1, 1, 1), np.float32)
    outs = []
    for c in range(3):
        ws = buffers(1, 2, 3, 1, 1, 1, 1)
        xc = x[..., c:c + 1].copy()
        out = forward(ws, xc, w, None, (1, 1, 0, 0, 1, 1))
        dx, dw = np.full_like(xc, np.nan), np.zeros_like(w)
        backward(ws, dx, dw, None, np.full(out.shape, 2, np.float32), xc, w, (1, 1, 0, 0, 1, 1))
        outs.append((float(out[0, 0, 0, 0]), int(ws['which'][0, 0, 0, 0]), dx[0, :, :, 0].tolist(), float(dw.sum())))
    assert outs[0] == (2.0, 3, [[0, 0, 0], [0, 2, 0]], 4.0)                # 2 wins; the third column is dropped
    assert outs[1] == (0.0, shapes.NO_WINNER, [[0, 0, 0], [0, 0, 0]], 0.0)  # max 0: no gradient
    assert outs[2] == (3.0, 0, [[2, 0, 0], [0, 0, 0]], 6.0)                # a tie: the first cell wins


def test_the_fused_kernels_match_the_unfused_ones(rng):
    # conv2d_forward with ReLU, max_pool2d_forward, and both backwards, on the same arrays.
    N, H, W, C, F, KH, KW, geometry = CASES[0]
    x, w, b, ws, (Ho, Wo) = setup(rng, *CASES[0])
    out = forward(ws, x, w, b, geometry)
    conv, col = np.empty((N, Ho, Wo, F), np.float32), np.empty_like(ws['col'])
    k.conv2d_forward(conv, col, x, w, b, geometry, True)
    np.testing.assert_array_equal(col, ws['col'])
    pooled, argmax = np.empty_like(out), np.empty(out.shape, np.int32)
    k.max_pool2d_forward(pooled, argmax, conv, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(out, pooled)  # the same products: the same bits
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    dconv, dx, dw, db = np.empty_like(conv), np.empty_like(x), np.zeros_like(w), np.zeros(F, np.float32)
    k.max_pool2d_backward(dconv, dout, argmax)
    k.conv2d_backward(dx, dw, db, np.empty((F, KH * KW * C), np.float32), np.empty(shapes.bias_parts(N * Ho * Wo, F),
                      np.float32), col, dconv, x, w, geometry, conv)
    fdx, fdw, fdb = np.empty_like(x), np.zeros_like(w), np.zeros(F, np.float32)
    backward(ws, fdx, fdw, fdb, dout, x, w, geometry)
    np.testing.assert_allclose(fdx, dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fdw, dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fdb, db, rtol=1e-5, atol=1e-5)


def test_backward_skips_what_is_none(rng):
    N, H, W, C, F, KH, KW, geometry = CASES[3]
    x, w, b, ws, _ = setup(rng, *CASES[3])
    out = forward(ws, x, w, b, geometry)
    saved = ws['col'].copy()
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    dw, db = np.zeros_like(w), np.zeros(F, np.float32)
    backward(ws, None, dw, db, dout, x, w, geometry)  # a first layer: no input gradient
    np.testing.assert_array_equal(ws['col'], saved)   # so the columns are left as the forward wrote them
    dx = np.empty_like(x)
    backward(ws, dx, None, None, dout, x, w, geometry)  # a frozen layer: the input gradient only
    want_dx, want_dw, want_db, _ = numpy_grads(x, w, b, geometry, dout)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, want_db, rtol=1e-4, atol=1e-3)


def test_results_do_not_depend_on_the_thread_count(rng):
    # Big enough for the parallel drivers: 5 parts of images, over 1 and 2 threads.
    case = (37, 13, 13, 8, 24, 3, 3, (1, 1, 0, 0, 1, 1))
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, _, (Ho, Wo) = setup(rng, *case)
    dout = rng.standard_normal((N, Ho // 2, Wo // 2, F), dtype=np.float32)
    results = []
    threads = numba.get_num_threads()
    try:
        for n in sorted({1, 2, threads}):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            ws = buffers(N, Ho, Wo, KH, KW, C, F)
            out = forward(ws, x, w, b, geometry).copy()
            dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros(F, np.float32)
            backward(ws, dx, dw, db, dout, x, w, geometry)
            results.append((out, ws['which'].copy(), dx, dw, db))
    finally:
        numba.set_num_threads(threads)
    for a, b_ in zip(results[0], results[-1]):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize('bad', ['which dtype', 'pooled size', 'scratch parts', 'col', 'channels', 'weight_parts',
                                 'bias_parts missing', 'weight_t', 'geometry'])
def test_mismatched_buffers_are_refused_before_any_kernel_runs(rng, bad):
    N, H, W, C, F, KH, KW, geometry = CASES[0]
    x, w, b, ws, (Ho, Wo) = setup(rng, *CASES[0])
    forward(ws, x, w, b, geometry)
    dout = np.ones_like(ws['out'])
    if bad == 'which dtype':
        ws['which'] = ws['which'].astype(np.int32)
    elif bad == 'pooled size':
        ws['out'] = np.empty((N, Ho // 2 + 1, Wo // 2, F), np.float32)
        dout = ws['out']
    elif bad == 'scratch parts':
        ws['scratch'] = ws['scratch'][:0]
    elif bad == 'col':
        ws['col'] = ws['col'][1:]
    elif bad == 'channels':
        w = np.zeros((KH, KW, C + 1, F), np.float32)
    elif bad == 'weight_parts':
        ws['weight_parts'] = ws['weight_parts'][:, 1:]
    elif bad == 'bias_parts missing':
        ws['bias_parts'] = None
    elif bad == 'weight_t':
        ws['weight_t'] = ws['weight_t'].T.copy()
    else:
        geometry = (1, 1, 0, 0, 1, 0)
    dx, dw, db = np.full_like(x, 7), np.zeros_like(w), np.zeros(F, np.float32)
    if bad in ('which dtype', 'pooled size', 'scratch parts', 'col', 'channels', 'geometry'):  # the forward's too
        with pytest.raises(ValueError, match='conv2d_relu_maxpool_forward'):
            k.conv2d_relu_maxpool_forward(ws['out'], ws['which'], ws['scratch'], ws['col'], x, w, b, geometry)
    with pytest.raises(ValueError, match='conv2d_relu_maxpool_backward'):
        backward(ws, dx, dw, db, dout, x, w, geometry)
    assert (dx == 7).all() and not dw.any() and not db.any()
