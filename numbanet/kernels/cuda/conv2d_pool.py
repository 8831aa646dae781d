"""Conv2D + ReLU + 2x2 max pooling (strides 2, 'valid') fused, on the GPU. Twin of kernels/cpu/conv2d_pool.py:
same names, arguments, workspace and `which` codes (2 * dy + dx of the winner, NO_WINNER when the window's
max is <= 0). Simple rather than fast: the forward runs im2col (col is kept for the weight gradient), then one
thread per pooled element computes its window's four convolution values from col; the backward runs one
thread per element of each gradient, summing its contributions in a fixed order (per part of images, then
the parts in order, as on the CPU): no atomics, the same bits on every run. `scratch` is not used here.
"""
import numpy as np
from numba import cuda

from numbanet.kernels import shapes
from numbanet.kernels.cuda._grid import THREADS, blocks, no_bias
from numbanet.kernels.cuda.conv2d import im2col

NO_WINNER = shapes.NO_WINNER
PER = shapes.IMAGES_PER_PART


@cuda.jit
def _forward(out, which, col, weight2, bias, Ho, Wo):
    i = cuda.grid(1)
    if i < out.size:
        N, Hp, Wp, F = out.shape
        f = i % F
        px = (i // F) % Wp
        py = (i // (F * Wp)) % Hp
        n = i // (F * Wp * Hp)
        best = np.float32(0.0)
        code = NO_WINNER
        for cell in range(4):  # (0,0), (0,1), (1,0), (1,1): the first of equal values wins
            row = (n * Ho + 2 * py + cell // 2) * Wo + 2 * px + cell % 2
            s = bias[f] if bias.shape[0] > 0 else np.float32(0.0)
            for j in range(col.shape[1]):
                s += col[row, j] * weight2[j, f]
            if s > best:
                best = s
                code = cell
        out[n, py, px, f] = best
        which[n, py, px, f] = code


@cuda.jit(device=True, inline='always')
def _winner_row(which, n, py, px, f, Ho, Wo):
    # The col row of window (py, px)'s winner for filter f, or -1 when it has none.
    code = np.int64(which[n, py, px, f])  # uint8 arithmetic would wrap
    if code >= NO_WINNER:
        return -1
    return (n * Ho + 2 * py + code // 2) * Wo + 2 * px + code % 2


@cuda.jit
def _weight_parts(parts, col, dout, which, Ho, Wo):
    # One thread per (part, tap, filter): col[winner, tap] * dout over the part's images and windows, in order.
    i = cuda.grid(1)
    if i < parts.size:
        taps, F = parts.shape[1], parts.shape[2]
        f = i % F
        j = (i // F) % taps
        p = i // (F * taps)
        s = np.float32(0.0)
        for n in range(p * PER, min(dout.shape[0], (p + 1) * PER)):
            for py in range(dout.shape[1]):
                for px in range(dout.shape[2]):
                    row = _winner_row(which, n, py, px, f, Ho, Wo)
                    if row >= 0:
                        s += col[row, j] * dout[n, py, px, f]
        parts[p, j, f] = s


@cuda.jit
def _bias_parts(parts, dout, which):
    i = cuda.grid(1)
    if i < parts.size:
        F = parts.shape[1]
        f, p = i % F, i // F
        s = np.float32(0.0)
        for n in range(p * PER, min(dout.shape[0], (p + 1) * PER)):
            for py in range(dout.shape[1]):
                for px in range(dout.shape[2]):
                    if which[n, py, px, f] < NO_WINNER:
                        s += dout[n, py, px, f]
        parts[p, f] = s


@cuda.jit
def _add_parts(total, parts):
    # total (M,) += parts (P, M) summed in part order.
    i = cuda.grid(1)
    if i < total.shape[0]:
        s = total[i]
        for p in range(parts.shape[0]):
            s += parts[p, i]
        total[i] = s


@cuda.jit
def _input_grad(dinp, dout, which, weight, Ho, Wo, sh, sw, pt, pl, dh, dw):
    # One thread per input element: over the taps (ky, kx) that read it and the filters, the gradient of the
    # output it fed when that output won its window, times the weight.
    i = cuda.grid(1)
    if i < dinp.size:
        N, H, W, C = dinp.shape
        KH, KW, F = weight.shape[0], weight.shape[1], weight.shape[3]
        c = i % C
        ix = (i // C) % W
        iy = (i // (C * W)) % H
        n = i // (C * W * H)
        s = np.float32(0.0)
        for ky in range(KH):
            ty = iy + pt - ky * dh  # = y * sh for the output row y that reads this input through tap ky
            if ty < 0 or ty % sh != 0 or ty // sh >= Ho // 2 * 2:
                continue
            y = ty // sh
            for kx in range(KW):
                tx = ix + pl - kx * dw
                if tx < 0 or tx % sw != 0 or tx // sw >= Wo // 2 * 2:
                    continue
                x = tx // sw
                cell = (y % 2) * 2 + x % 2
                for f in range(F):
                    if which[n, y // 2, x // 2, f] == cell:
                        s += dout[n, y // 2, x // 2, f] * weight[ky, kx, c, f]
        dinp[n, iy, ix, c] = s


def conv2d_relu_maxpool_forward(out, which, scratch, col, inp, weight, bias, geometry):
    # out (N,Ho//2,Wo//2,F) = maxpool2x2(relu(conv(inp (N,H,W,C), weight (KH,KW,C,F)) + bias (F,))); bias None
    # for use_bias=False. which (uint8): each window's winner or NO_WINNER; scratch (image_parts(N), Ho, Wo, F)
    # gives Ho, Wo; col (N*Ho*Wo, KH*KW*C): the receptive fields, kept for the backward.
    name = 'conv2d_relu_maxpool_forward'
    geometry, N, Ho, Wo, KH, KW, C, F = shapes.conv_pool(name, out, which, scratch, col, inp, weight, geometry)
    if bias is not None:
        shapes.shaped(name, 'bias', bias, (F,))
    im2col(col, inp, KH, KW, Ho, Wo, geometry)
    _forward[blocks(out.size), THREADS](out, which, col, weight.reshape(KH * KW * C, F),
                                        no_bias() if bias is None else bias, Ho, Wo)


def conv2d_relu_maxpool_backward(dinp, dweight, dbias, weight_t, weight_parts, bias_parts, scratch, col, dout, which,
                                 inp, weight, geometry):
    # dweight (KH,KW,C,F) += col^T @ dconv, dbias (F,) += sums of dconv, dinp (N,H,W,C) = the input gradient,
    # where dconv is dout (N,Ho//2,Wo//2,F) at each window's winner. What is None is skipped; weight_t is
    # checked, not used; weight_parts (image_parts(N), KH*KW*C, F), bias_parts (image_parts(N), F).
    name = 'conv2d_relu_maxpool_backward'
    geometry, N, Ho, Wo, KH, KW, C, F = shapes.conv_pool(name, dout, which, scratch, col, inp, weight, geometry)
    shapes.conv_pool_gradients(name, dinp, dweight, dbias, weight_t, weight_parts, bias_parts, inp, weight)
    taps, parts = KH * KW * C, shapes.image_parts(N)
    if dweight is not None:
        _weight_parts[blocks(weight_parts.size), THREADS](weight_parts, col, dout, which, Ho, Wo)
        _add_parts[blocks(taps * F), THREADS](dweight.reshape(taps * F), weight_parts.reshape(parts, taps * F))
    if dbias is not None:
        _bias_parts[blocks(bias_parts.size), THREADS](bias_parts, dout, which)
        _add_parts[blocks(F), THREADS](dbias, bias_parts)
    if dinp is not None:
        _input_grad[blocks(dinp.size), THREADS](dinp, dout, which, weight, Ho, Wo, *geometry)
