"""conv2d_forward / conv2d_backward against a plain-numpy convolution and central differences, on odd
shapes (H, W, C, F no multiple of any tile), strides, dilation, padding, and the thread count."""
import numba
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from numbanet.kernels import shapes
from tests.helpers import check_grad

# (N, H, W, C, F, KH, KW, geometry = (stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w))
CASES = [
    (3, 7, 9, 5, 6, 3, 3, (1, 1, 0, 0, 1, 1)),
    (2, 9, 8, 3, 5, 3, 2, (2, 2, 0, 0, 1, 1)),       # stride 2, a non-square kernel
    (2, 9, 7, 3, 4, 3, 3, (1, 1, 2, 2, 2, 2)),       # dilation 2, 'same' padding
    (2, 6, 7, 2, 70, 4, 4, (1, 1, 1, 1, 1, 1)),      # an even kernel with 'same' padding (odd pad after)
    (1, 5, 5, 1, 1, 5, 5, (1, 1, 0, 0, 1, 1)),       # one output pixel, one channel, one filter
    (4, 12, 11, 1, 33, 3, 3, (1, 1, 0, 0, 1, 1)),    # a first layer: one input channel
]


def numpy_conv(x, w, b, geometry, out_hw):
    """The textbook sum over taps, in float64, on a zero-padded copy of the input."""
    sh, sw, pt, pl, dh, dw = geometry
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    Ho, Wo = out_hw
    padded = np.zeros((N, pt + H + KH * dh + Ho * sh, pl + W + KW * dw + Wo * sw, C))
    padded[:, pt:pt + H, pl:pl + W] = x
    out = np.zeros((N, Ho, Wo, F)) + (0 if b is None else b)
    for ky in range(KH):
        for kx in range(KW):
            window = padded[:, ky * dh:ky * dh + Ho * sh:sh, kx * dw:kx * dw + Wo * sw:sw, :]
            out += window @ w[ky, kx].astype(np.float64)
    return out


def parts(rows, F):
    # conv2d_backward's workspace for the bias gradient's partial sums, which the layer allocates once.
    return np.empty(shapes.bias_parts(rows, F), np.float32)


def out_size(H, W, KH, KW, geometry):
    sh, sw, pt, pl, dh, dw = geometry
    # The layers pass 'same' paddings whose after-part may be one more than pt; valid sizes suffice here.
    return (H + 2 * pt - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pl - dw * (KW - 1) - 1) // sw + 1


def setup(rng, N, H, W, C, F, KH, KW, geometry, use_bias=True):
    Ho, Wo = out_size(H, W, KH, KW, geometry)
    x = rng.standard_normal((N, H, W, C), dtype=np.float32)
    w = (rng.standard_normal((KH, KW, C, F)) / np.sqrt(KH * KW * C)).astype(np.float32)
    b = rng.standard_normal(F, dtype=np.float32) if use_bias else None
    col = np.empty((N * Ho * Wo, KH * KW * C), np.float32)
    return x, w, b, col, (Ho, Wo)


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('use_bias', [True, False])
def test_conv2d_forward_and_backward(rng, case, use_bias):
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, col, (Ho, Wo) = setup(rng, *case, use_bias=use_bias)
    out = np.empty((N, Ho, Wo, F), np.float32)
    k.conv2d_forward(out, col, x, w, b, geometry)
    np.testing.assert_allclose(out, numpy_conv(x, w, b, geometry, (Ho, Wo)), rtol=1e-4, atol=1e-4)
    ref = np.empty_like(out)
    k.conv2d_reference(ref, x, w, b, geometry)
    np.testing.assert_allclose(ref, out, rtol=1e-5, atol=1e-5)

    R = rng.standard_normal(out.shape, dtype=np.float32)  # loss = sum(out * R), so dout = R
    dx = np.full_like(x, np.nan)  # overwritten, not accumulated
    dw = np.full_like(w, 0.5)     # accumulated, as every parameter gradient
    db = np.full(F, 0.25, np.float32) if use_bias else None
    wt = np.empty((F, KH * KW * C), np.float32)
    k.conv2d_backward(dx, dw, db, wt, parts(N * Ho * Wo, F), col, R, x, w, geometry)
    if use_bias:
        np.testing.assert_allclose(db - 0.25, R.sum((0, 1, 2)), rtol=1e-4, atol=1e-4)

    def loss():
        k.conv2d_forward(out, np.empty_like(col), x, w, b, geometry)
        return float((out.astype(np.float64) * R).sum())
    # Linear in x and in w, so float32 differences with a large step are exact up to rounding.
    check_grad(loss, x, dx, rng, eps=0.5, rtol=2e-2, atol=2e-2 * np.sqrt(F))
    check_grad(loss, w, dw - 0.5, rng, eps=0.5, rtol=2e-2, atol=2e-2 * np.sqrt(N * Ho * Wo))
    if use_bias:
        check_grad(loss, b, db - 0.25, rng, eps=0.5, rtol=2e-2, atol=2e-2 * np.sqrt(N * Ho * Wo))


def test_conv2d_backward_skips_what_is_none(rng):
    case = CASES[0]
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, col, (Ho, Wo) = setup(rng, *case)
    out = np.empty((N, Ho, Wo, F), np.float32)
    k.conv2d_forward(out, col, x, w, b, geometry)
    saved = col.copy()
    dw = np.zeros_like(w)
    k.conv2d_backward(None, dw, None, None, None, col, out, x, w, geometry)  # a first layer: no input gradient
    np.testing.assert_array_equal(col, saved)  # and so the column buffer is left as the forward wrote it
    np.testing.assert_allclose(dw.reshape(-1, F), saved.T.astype(np.float64) @ out.reshape(-1, F), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('first_layer', [True, False])
def test_a_fused_relu_masks_dout_first(rng, case, first_layer):
    # relu_out given: the gradient is that of dout zeroed where the ReLU's output is not positive.
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, col, (Ho, Wo) = setup(rng, *case)
    out = np.empty((N, Ho, Wo, F), np.float32)
    k.conv2d_forward(out, col, x, w, b, geometry, relu=True)
    saved = col.copy()
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    masked = np.where(out > 0, dout, np.float32(0))
    dw, db = np.full_like(w, 0.5), np.full(F, 0.25, np.float32)
    dx = None if first_layer else np.full_like(x, np.nan)
    wt = None if first_layer else np.empty((F, KH * KW * C), np.float32)
    k.conv2d_backward(dx, dw, db, wt, parts(N * Ho * Wo, F), col, dout.copy(), x, w, geometry, relu_out=out)
    want_dw = saved.T.astype(np.float64) @ masked.reshape(-1, F)
    np.testing.assert_allclose(dw.reshape(-1, F) - 0.5, want_dw, rtol=1e-4, atol=1e-4 * np.sqrt(N * Ho * Wo))
    np.testing.assert_allclose(db - 0.25, masked.sum((0, 1, 2), dtype=np.float64), rtol=1e-4, atol=1e-4 * N * Ho * Wo)
    if not first_layer:
        # The same input gradient as for a dout masked beforehand, which the finite differences above cover.
        k.conv2d_forward(out, col, x, w, b, geometry, relu=True)
        plain = np.empty_like(x)
        k.conv2d_backward(plain, np.zeros_like(w), None, wt, None, col, masked, x, w, geometry)
        np.testing.assert_array_equal(dx, plain)


def test_a_first_layer_leaves_the_columns_and_dout_as_they_were(rng):
    # Without a ReLU nothing is masked, and without dinp the columns are not reused as scratch.
    case = (5, 11, 10, 1, 7, 3, 3, (2, 1, 1, 0, 1, 1))
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, col, (Ho, Wo) = setup(rng, *case)
    out = np.empty((N, Ho, Wo, F), np.float32)
    k.conv2d_forward(out, col, x, w, b, geometry)
    saved = col.copy()
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    kept = dout.copy()
    dw, db = np.zeros_like(w), np.zeros(F, np.float32)
    k.conv2d_backward(None, dw, db, None, parts(N * Ho * Wo, F), col, dout, x, w, geometry)
    np.testing.assert_array_equal(col, saved)
    np.testing.assert_array_equal(dout, kept)
    np.testing.assert_allclose(dw.reshape(-1, F), saved.T.astype(np.float64) @ kept.reshape(-1, F), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, kept.sum((0, 1, 2), dtype=np.float64), rtol=1e-4, atol=1e-4)


def test_results_do_not_depend_on_the_thread_count(rng):
    # Big enough for the parallel copies and the parallel product.
    case = (40, 13, 13, 8, 24, 3, 3, (1, 1, 1, 1, 1, 1))
    N, H, W, C, F, KH, KW, geometry = case
    x, w, b, col, (Ho, Wo) = setup(rng, *case)
    dout = rng.standard_normal((N, Ho, Wo, F), dtype=np.float32)
    x1, w1, _, col1, _ = setup(rng, N, H, W, 1, F, KH, KW, geometry)
    dout1 = rng.standard_normal((N, Ho, Wo, F), dtype=np.float32)
    results = []
    threads = numba.get_num_threads()
    try:
        for n in sorted({1, threads}):
            numba.set_num_threads(n)
            out, dx, dw, db = np.empty((N, Ho, Wo, F), np.float32), np.empty_like(x), np.zeros_like(w), np.zeros(F, np.float32)
            k.conv2d_forward(out, col, x, w, b, geometry)
            wt = np.empty((F, KH * KW * C), np.float32)
            k.conv2d_backward(dx, dw, db, wt, parts(N * Ho * Wo, F), col, dout, x, w, geometry)
            first = (np.zeros_like(w1), np.zeros(F, np.float32))  # masked and summed in chunks of rows
            k.conv2d_backward(None, *first, None, parts(N * Ho * Wo, F), col1, dout1.copy(), x1, w1, geometry,
                              relu_out=dout1)
            results.append((out, dx, dw, db) + first)
    finally:
        numba.set_num_threads(threads)
    for a, b_ in zip(results[0], results[-1]):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize('bad', ['channels', 'batch', 'filters', 'col', 'geometry', 'rank'])
def test_inconsistent_shapes_are_refused_before_any_kernel_runs(rng, bad):
    N, H, W, C, F, KH, KW, geometry = CASES[0]
    x, w, b, col, (Ho, Wo) = setup(rng, *CASES[0])
    out = np.empty((N, Ho, Wo, F), np.float32)
    if bad == 'channels':
        w = np.zeros((KH, KW, C + 1, F), np.float32)
    elif bad == 'batch':
        out = np.empty((N + 1, Ho, Wo, F), np.float32)
    elif bad == 'filters':
        out = np.empty((N, Ho, Wo, F + 1), np.float32)
    elif bad == 'col':
        col = np.empty((N * Ho * Wo - 1, KH * KW * C), np.float32)
    elif bad == 'geometry':
        geometry = (0, 1, 0, 0, 1, 1)
    else:
        x = x[0]
    before = col.copy()
    with pytest.raises(ValueError, match='conv2d'):
        k.conv2d_forward(out, col, x, w, b, geometry)
    np.testing.assert_array_equal(col, before)


@pytest.mark.parametrize('bad', ['dinp batch', 'dinp channels', 'dbias', 'weight_t', 'bias_parts', 'bias_parts missing',
                                 'dweight permuted',
                                 'float64 dout', 'strided inp', 'relu_out', 'relu_out first layer'])
def test_backward_refuses_every_mismatched_buffer(rng, bad):
    # Each of these once reached the copies or the product and read or wrote past an array.
    N, H, W, C, F, KH, KW, geometry = CASES[0]
    x, w, b, col, (Ho, Wo) = setup(rng, *CASES[0])
    dout = rng.standard_normal((N, Ho, Wo, F), dtype=np.float32)
    args = dict(dinp=np.empty_like(x), dweight=np.zeros_like(w), dbias=np.zeros(F, np.float32),
                weight_t=np.empty((F, KH * KW * C), np.float32), bias_parts=parts(N * Ho * Wo, F), col=col,
                dout=dout, inp=x, weight=w,
                relu_out=np.ones_like(dout))
    if bad == 'dinp batch':
        args['dinp'] = np.empty((N + 50,) + x.shape[1:], np.float32)
    elif bad == 'dinp channels':
        args['dinp'] = np.empty(x.shape[:3] + (C + 1,), np.float32)
    elif bad == 'dbias':
        args['dbias'] = np.zeros(1, np.float32)
    elif bad == 'weight_t':
        args['weight_t'] = np.empty((1, F), np.float32)
    elif bad == 'bias_parts':
        args['bias_parts'] = np.empty((1, F + 1), np.float32)
    elif bad == 'bias_parts missing':
        args['bias_parts'] = None
    elif bad == 'dweight permuted':
        args['dweight'] = np.zeros((F, KH, KW, C), np.float32)
    elif bad == 'float64 dout':
        args['dout'] = dout.astype(np.float64)
    elif bad.startswith('relu_out'):
        args['relu_out'] = np.ones((N, Ho, Wo, F + 1), np.float32)
        if bad.endswith('first layer'):
            args['dinp'] = args['weight_t'] = None
    else:
        args['inp'] = np.empty((N, H, 2 * W, C), np.float32)[:, :, ::2]
    before = {k_: None if v is None else v.copy() for k_, v in args.items()}
    with pytest.raises(ValueError, match='conv2d_backward: '):
        k.conv2d_backward(**args, geometry=geometry)
    for name, value in args.items():
        if value is None:
            continue
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize('call', [
    lambda col, x, dx: k.im2col(col, x, 30, 30, 3, 3, (1, 1, 0, 0, 1, 1)),     # a kernel larger than the input
    lambda col, x, dx: k.im2col(col, x, 3, 3, 3, 3, (-1, 1, 0, 0, 1, 1)),     # a negative stride
    lambda col, x, dx: k.im2col(col, x, 3, 3, 3, 3, (1.5, 1, 0, 0, 1, 1)),    # a float stride
    lambda col, x, dx: k.im2col(col, x, 3, 3, 4, 3, (1, 1, 0, 0, 1, 1)),      # more outputs than fit
    lambda col, x, dx: k.im2col(col[:-1], x, 3, 3, 3, 3, (1, 1, 0, 0, 1, 1)),  # too few rows
    lambda col, x, dx: k.col2im(np.empty((9, 5, 5, 3), np.float32), col, 3, 3, 3, 3, (1, 1, 0, 0, 1, 1)),
    lambda col, x, dx: k.conv2d_forward(np.empty((2, 9, 9, 4), np.float32), col, x, np.zeros((3, 3, 3, 4), np.float32),
                                        None, (1, 1, 0, 0, 1, 1)),            # out's size is not the geometry's
    lambda col, x, dx: k.conv2d_forward(np.empty((2, 3, 3, 4), np.int32), col, x, np.zeros((3, 3, 3, 4), np.float32),
                                        None, (1, 1, 0, 0, 1, 1)),
])
def test_copies_refuse_sizes_they_could_overrun(call):
    x = np.ones((2, 5, 5, 3), np.float32)
    guard = np.full(18 * 27 + 64, 7.0, np.float32)
    col = guard[:18 * 27].reshape(18, 27)
    with pytest.raises(ValueError):
        call(col, x, None)
    assert (guard == 7.0).all()  # nothing was written, in col or past it
