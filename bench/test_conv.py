"""The convnet's kernels (Keras's simple MNIST convnet, batch 128) against the same operation in numpy
(im2col through a strided view + BLAS matmul, the usual numpy convolution). Shapes are written
batch x height x width x channels, and ->filters for a convolution: `conv2d_backward[128x13x13x32->64]`.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest bench/test_conv.py
"""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from numbanet.kernels import cpu as k
from numbanet.kernels import shapes

B = 128
# (H, W, C, F): the convnet's two 3x3 'valid' convolutions
CONVS = [(28, 28, 1, 32), (13, 13, 32, 64)]
POOLS = [(26, 32), (11, 64)]  # (H = W, C): the 2x2 max pooling after each
GEOMETRY = (1, 1, 0, 0, 1, 1)
WHO = [pytest.param('numbanet', marks=pytest.mark.numbanet), 'numpy']
rng = np.random.default_rng(0)


def _f32(*shape):
    return rng.standard_normal(shape, dtype=np.float32)


def numpy_im2col(x):
    # (B, Ho, Wo, C, 3, 3) view -> (B*Ho*Wo, 3*3*C) rows in the kernel's (ky, kx, c) order: one copy.
    win = sliding_window_view(x, (3, 3), axis=(1, 2))
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 9 * x.shape[3])


@pytest.mark.parametrize('H,W,C,F', CONVS, ids=[f'{B}x{H}x{W}x{C}->{F}' for H, W, C, F in CONVS])
@pytest.mark.parametrize('who', WHO)
def test_conv2d_forward(run, H, W, C, F, who):
    x, w, b = _f32(B, H, W, C), _f32(3, 3, C, F), _f32(F)
    out = np.empty((B, H - 2, W - 2, F), np.float32)
    col = np.empty((B * (H - 2) * (W - 2), 9 * C), np.float32)
    if who == 'numbanet':
        fn = lambda: k.conv2d_forward(out, col, x, w, b, GEOMETRY, True)  # noqa: E731
    else:
        def fn():
            z = np.matmul(numpy_im2col(x), w.reshape(9 * C, F), out=out.reshape(-1, F))
            np.maximum(np.add(z, b, out=z), 0, out=z)
    run(f'conv2d_forward_relu[{B}x{H}x{W}x{C}->{F}]', who, fn)


@pytest.mark.parametrize('H,W,C,F', CONVS, ids=[f'{B}x{H}x{W}x{C}->{F}' for H, W, C, F in CONVS])
@pytest.mark.parametrize('who', WHO)
def test_conv2d_backward(run, H, W, C, F, who):
    # Weight and bias gradients, and the input gradient except for a first layer (C = 1), as in training.
    x, w, dout = _f32(B, H, W, C), _f32(3, 3, C, F), _f32(B, H - 2, W - 2, F)
    col = np.empty((B * (H - 2) * (W - 2), 9 * C), np.float32)
    dw, db = np.zeros_like(w), np.zeros(F, np.float32)
    dx = np.empty_like(x) if C > 1 else None
    out = np.empty_like(dout)
    k.conv2d_forward(out, col, x, w, None, GEOMETRY)
    saved = col.copy()
    wt = np.empty((F, 9 * C), np.float32)
    parts = np.empty(shapes.bias_parts(dout.shape[0] * dout.shape[1] * dout.shape[2], F), np.float32)
    if who == 'numbanet':
        def fn():
            col[...] = saved  # the forward's columns, which the input gradient overwrites
            k.conv2d_backward(dx, dw, db, wt, parts, col, dout, x, w, GEOMETRY)
    else:
        d2 = dout.reshape(-1, F)

        def fn():
            cols = numpy_im2col(x)
            dw.reshape(9 * C, F)[...] += cols.T @ d2
            db[...] += d2.sum(0)
            if dx is not None:
                dcol = (d2 @ w.reshape(9 * C, F).T).reshape(B, H - 2, W - 2, 3, 3, C)
                dx[...] = 0
                for ky in range(3):
                    for kx in range(3):
                        dx[:, ky:ky + H - 2, kx:kx + W - 2] += dcol[:, :, :, ky, kx]
    run(f'conv2d_backward[{B}x{H}x{W}x{C}->{F}]', who, fn)


@pytest.mark.parametrize('H,C', POOLS, ids=[f'{B}x{H}x{H}x{C}' for H, C in POOLS])
@pytest.mark.parametrize('who', WHO)
def test_max_pool2d(run, H, C, who):
    x, dout = _f32(B, H, H, C), _f32(B, H // 2, H // 2, C)
    out, argmax, dx = np.empty_like(dout), np.empty(dout.shape, np.int32), np.empty_like(x)
    if who == 'numbanet':
        def fn():
            k.max_pool2d_forward(out, argmax, x, 2, 2, 2, 2, 0, 0)
            k.max_pool2d_backward(dx, dout, argmax)
    else:
        h = H // 2 * 2

        def fn():
            win = x[:, :h, :h].reshape(B, h // 2, 2, h // 2, 2, C)
            m = win.max(axis=(2, 4))
            dx[...] = 0
            dx[:, :h, :h] = ((win == m[:, :, None, :, None]) * dout[:, :, None, :, None]).reshape(B, h, h, C)
    run(f'max_pool2d_forward_backward[{B}x{H}x{H}x{C}]', who, fn)


# ---- Conv2D + ReLU + 2x2 max pooling, fused (what the plan runs for the convnet's pairs) -------------------------
# numbanet: the fused kernels; unfused: conv2d_* with ReLU and max_pool2d_* as the plan ran them apart; numpy:
# im2col + BLAS, then the pooling over reshaped windows. Shapes are the convolution's, as above.
FUSED_WHO = [pytest.param('numbanet', marks=pytest.mark.numbanet),
             pytest.param('unfused', marks=pytest.mark.numbanet), 'numpy']


def _fused_arrays(H, W, C, F):
    Ho, Wo = H - 2, W - 2
    parts = shapes.image_parts(B)
    a = dict(x=_f32(B, H, W, C), w=_f32(3, 3, C, F) / np.float32(3 * np.sqrt(C)), b=_f32(F) * np.float32(0.1),
             conv=np.empty((B, Ho, Wo, F), np.float32), col=np.empty((B * Ho * Wo, 9 * C), np.float32),
             out=np.empty((B, Ho // 2, Wo // 2, F), np.float32), argmax=np.empty((B, Ho // 2, Wo // 2, F), np.int32),
             which=np.empty((B, Ho // 2, Wo // 2, F), np.uint8), scratch=np.empty((parts, Ho, Wo, F), np.float32),
             weight_t=np.empty((F, 9 * C), np.float32), weight_parts=np.empty((parts, 9 * C, F), np.float32),
             bias_parts=np.empty((parts, F), np.float32), conv_parts=np.empty(shapes.bias_parts(B * Ho * Wo, F),
                                                                               np.float32))
    return a


def _fused_forward(a, who):
    if who == 'numbanet':
        return lambda: k.conv2d_relu_maxpool_forward(a['out'], a['which'], a['scratch'], a['col'], a['x'], a['w'],
                                                     a['b'], GEOMETRY)
    if who == 'unfused':
        def fn():
            k.conv2d_forward(a['conv'], a['col'], a['x'], a['w'], a['b'], GEOMETRY, True)
            k.max_pool2d_forward(a['out'], a['argmax'], a['conv'], 2, 2, 2, 2, 0, 0)
        return fn
    N, Ho, Wo, F = a['conv'].shape
    h, w = Ho // 2 * 2, Wo // 2 * 2

    def fn():
        z = np.matmul(numpy_im2col(a['x']), a['w'].reshape(-1, F), out=a['conv'].reshape(-1, F))
        np.maximum(np.add(z, a['b'], out=z), 0, out=z)
        a['out'][...] = a['conv'][:, :h, :w].reshape(N, h // 2, 2, w // 2, 2, F).max(axis=(2, 4))
    return fn


@pytest.mark.parametrize('H,W,C,F', CONVS, ids=[f'{B}x{H}x{W}x{C}->{F}' for H, W, C, F in CONVS])
@pytest.mark.parametrize('who', FUSED_WHO)
def test_conv2d_relu_maxpool_forward(run, H, W, C, F, who):
    run(f'conv2d_relu_maxpool_forward[{B}x{H}x{W}x{C}->{F}]', who, _fused_forward(_fused_arrays(H, W, C, F), who))


@pytest.mark.parametrize('H,W,C,F', CONVS, ids=[f'{B}x{H}x{W}x{C}->{F}' for H, W, C, F in CONVS])
@pytest.mark.parametrize('who', FUSED_WHO)
def test_conv2d_relu_maxpool_backward(run, H, W, C, F, who):
    # Weight and bias gradients, and the input gradient except for a first layer (C = 1), from the pooled
    # gradient; the forward's columns are restored first, as in test_conv2d_backward.
    a = _fused_arrays(H, W, C, F)
    _fused_forward(a, who)()
    saved = a['col'].copy()
    dout = _f32(*a['out'].shape)
    dw, db = np.zeros_like(a['w']), np.zeros(F, np.float32)
    dx = np.empty_like(a['x']) if C > 1 else None
    if who == 'numbanet':
        def fn():
            a['col'][...] = saved
            k.conv2d_relu_maxpool_backward(dx, dw, db, a['weight_t'], a['weight_parts'], a['bias_parts'],
                                           a['scratch'], a['col'], dout, a['which'], a['x'], a['w'], GEOMETRY)
    elif who == 'unfused':
        dconv = np.empty_like(a['conv'])

        def fn():
            a['col'][...] = saved
            k.max_pool2d_backward(dconv, dout, a['argmax'])
            k.conv2d_backward(dx, dw, db, a['weight_t'], a['conv_parts'], a['col'], dconv, a['x'], a['w'], GEOMETRY,
                              a['conv'])
    else:
        N, Ho, Wo, _ = a['conv'].shape
        h, w = Ho // 2 * 2, Wo // 2 * 2
        d2 = np.zeros((N * Ho * Wo, F), np.float32)

        def fn():
            win = a['conv'][:, :h, :w].reshape(N, h // 2, 2, w // 2, 2, F)
            top = (win == a['out'][:, :, None, :, None]) & (win > 0)
            dconv = d2.reshape(N, Ho, Wo, F)
            dconv[:, :h, :w] = (top * dout[:, :, None, :, None]).reshape(N, h, w, F)
            cols = numpy_im2col(a['x'])
            dw.reshape(9 * C, F)[...] += cols.T @ d2
            db[...] += d2.sum(0)
            if dx is not None:
                dcol = (d2 @ a['w'].reshape(9 * C, F).T).reshape(B, Ho, Wo, 3, 3, C)
                dx[...] = 0
                for ky in range(3):
                    for kx in range(3):
                        dx[:, ky:ky + Ho, kx:kx + Wo] += dcol[:, :, :, ky, kx]
    run(f'conv2d_relu_maxpool_backward[{B}x{H}x{W}x{C}->{F}]', who, fn)
