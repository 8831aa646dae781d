"""Conv2D + ReLU + 2x2 max pooling (strides 2, 'valid') in one pass, one image at a time, channels-last:
inp (N,H,W,C), weight (KH,KW,C,F) as Keras stores it, the convolution's Ho x Wo output pooled to
out (N,Ho//2,Wo//2,F). 'valid' pooling drops the last row (column) of an odd Ho (Wo); it gets no gradient.

Why: apart, the convolution writes its whole output (11 MB for the MNIST convnet's first layer at batch
128), the pooling reads it, the pooling's backward writes its gradient, and the convolution's backward
reads that and the output again for the ReLU mask. Here an image's convolution output lives only in a
scratch of Ho*Wo x F (86 KB for that layer), in L2: the forward runs im2col for the image's rows of `col`
(kept whole: the weight gradient reads it), the product into the scratch, then ReLU and the 2x2 max into
`out`, and records in `which` (uint8) which cell of each window won: 2 * dy + dx, or NO_WINNER when the
window's max is <= 0 (ReLU's gradient is zero there, so nothing flows back). The backward rebuilds each
image's gradient of the convolution output from `dout` and `which` in the scratch, adds its bias sums and
its weight-gradient product col_img^T @ dconv_img, and when asked takes the input gradient as
conv2d_backward does (dconv_img @ weight^T into the spent rows of col, then col2im).

Images go in parts of shapes.IMAGES_PER_PART; each part sums its own weight and bias gradients into a row
of `weight_parts` / `bias_parts`, which are added in part order afterwards: the same bits on any thread
count. Threads take contiguous runs of parts, one scratch slab per run.
"""
import numba
import numpy as np

from numbanet.kernels import shapes
from numbanet.kernels.cpu._columns import col2im_image, im2col_rows
from numbanet.kernels.cpu._compiled import TABLE, call, slot_for
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import LO_HI, launch, pool, run
from numbanet.kernels.cpu._tiles import NO_BIAS, body_for, gemm_rows
from numbanet.kernels.cpu.conv2d import PARALLEL_MIN_VALUES
from numbanet.kernels.cpu.matmul import transpose

NO_WINNER = shapes.NO_WINNER
PER = shapes.IMAGES_PER_PART


@njit(cache=True)
def _pool_image(out, which, conv):
    # out, which (Hp,Wp,F) = ReLU + 2x2 max of conv (Ho,Wo,F). best starts at 0 with no winner and takes a
    # value only when strictly larger: ReLU folded into the max, the first of equal values wins (as in
    # max_pool2d_forward), and a NaN never wins (ReLU makes it 0 in the unfused path too).
    F = conv.shape[2]
    for py in range(out.shape[0]):
        for px in range(out.shape[1]):
            o = out[py, px]
            w = which[py, px]
            a = conv[2 * py, 2 * px]
            b = conv[2 * py, 2 * px + 1]
            c = conv[2 * py + 1, 2 * px]
            d = conv[2 * py + 1, 2 * px + 1]
            for f in range(F):
                best = np.float32(0.0)
                code = np.uint8(NO_WINNER)
                if a[f] > best:
                    best = a[f]
                    code = np.uint8(0)
                if b[f] > best:
                    best = b[f]
                    code = np.uint8(1)
                if c[f] > best:
                    best = c[f]
                    code = np.uint8(2)
                if d[f] > best:
                    best = d[f]
                    code = np.uint8(3)
                o[f] = best
                w[f] = code


@njit(cache=True)
def _forward_images(out, which, scratch, col, inp, weight2, bias, table, slots, span, KH, KW, geo, n0, n1):
    # Images n0..n1, a thread's run of span images (_launch.py), in scratch[n0 // span]. geo: the geometry as
    # one tuple (20 arguments to a jitted function leaked a tuple per call). slots: where table holds
    # gemm_rows, im2col_rows and _pool_image, called through their addresses (_compiled.py): linked in, their
    # code would be generated again here.
    sh, sw, pt, pl, dh, dw = geo
    rows, fields, pool = slots
    conv = scratch[n0 // span]
    Ho, Wo = conv.shape[0], conv.shape[1]
    P = Ho * Wo
    conv2 = conv.reshape(P, conv.shape[2])
    for n in range(n0, n1):
        call(table, fields, col, inp, n, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw)
        call(table, rows, conv2, col[n * P:(n + 1) * P, :], weight2, bias, np.bool_(False), np.bool_(False),
             np.int64(0), np.int64(P))
        call(table, pool, out[n], which[n], conv)


@njit(cache=True)
def _unpool_image(dconv, bias_part, dout, which):
    # dconv (Ho,Wo,F) = the gradient of the convolution output: dout (Hp,Wp,F) at each window's winner,
    # zero elsewhere (a window with NO_WINNER, the dropped last row and column). bias_part (F,) += the same
    # values, summed from dout directly.
    Ho, Wo, F = dconv.shape
    Hp, Wp = dout.shape[0], dout.shape[1]
    for py in range(Hp):
        for px in range(Wp):
            g = dout[py, px]
            w = which[py, px]
            for dy in range(2):
                for dx in range(2):
                    cell = dconv[2 * py + dy, 2 * px + dx]
                    code = np.uint8(2 * dy + dx)
                    for f in range(F):
                        cell[f] = g[f] if w[f] == code else np.float32(0.0)
            for f in range(F):
                bias_part[f] += g[f] if w[f] != NO_WINNER else np.float32(0.0)
    for y in range(2 * Hp, Ho):
        for x in range(Wo):
            for f in range(F):
                dconv[y, x, f] = 0.0
    for y in range(2 * Hp):
        for x in range(2 * Wp, Wo):
            for f in range(F):
                dconv[y, x, f] = 0.0


@njit(cache=True)
def _backward_part(dinp, weight_part, bias_part, conv, col, dout, which, weight_t, no_bias, table, slots, n0, n1,
                   want_dinp, want_dw, KH, KW, geo):
    # Images n0..n1, one part: its weight and bias gradients into weight_part (taps, F) and bias_part (F,).
    # no_bias: NO_BIAS handed in as an argument: a global array is typed read-only, and gemm_rows would
    # compile once more for it. slots: where table holds gemm_rows, _unpool_image and col2im_image, called
    # through their addresses, as in _forward_images.
    sh, sw, pt, pl, dh, dw = geo
    gemm, unpool, fields = slots
    Ho, Wo, F = conv.shape
    P = Ho * Wo
    dconv = conv.reshape(P, F)
    for f in range(F):
        bias_part[f] = 0.0
    for n in range(n0, n1):
        call(table, unpool, conv, bias_part, dout[n], which[n])
        rows = col[n * P:(n + 1) * P, :]
        if want_dw:
            call(table, gemm, weight_part, rows.T[:, :], dconv, no_bias, np.bool_(n > n0), np.bool_(False),
                 np.int64(0), np.int64(weight_part.shape[0]))
        if want_dinp:
            # The image's columns are spent: its column gradient goes in their place, still in L2 for col2im.
            cols = col[n * P:(n + 1) * P]
            call(table, gemm, cols, dconv[:, :], weight_t, no_bias, np.bool_(False), np.bool_(False), np.int64(0),
                 np.int64(P))
            call(table, fields, dinp[n], cols, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw)


@njit(cache=True)
def _backward_runs(dinp, weight_parts, bias_parts, scratch, col, dout, which, weight_t, no_bias, table, slots, part,
                   per, wants, KH, KW, geo, lo, hi):
    # Parts lo..hi, a thread's run of per parts (_launch.py), in scratch[lo // per]. table[part]: _backward_part,
    # through its address, as gemm_rows in it: linked in, its code and its callees' would be generated again
    # here (0.4 s of a cold convnet). wants: (want_dinp, want_dw), one argument, so that the arguments with
    # (lo, hi) are not 20 tuple items (_compiled.slot_for says why).
    want_dinp, want_dw = wants
    N = dout.shape[0]
    t = lo // per
    for p in range(lo, hi):
        n0 = p * PER
        call(table, part, dinp, weight_parts[p], bias_parts[p], scratch[t], col, dout, which, weight_t, no_bias, table,
             slots, np.int64(n0), np.int64(min(N, n0 + PER)), want_dinp, want_dw, KH, KW, geo)


@njit(cache=True)
def _add_parts(total, parts):
    # total += parts summed in part order: the same bits on any thread count.
    flat = total.reshape(total.size)
    for p in range(parts.shape[0]):
        part = parts[p].reshape(flat.size)
        for i in range(flat.size):
            flat[i] += part[i]


def _runs(N, values):
    # How many threads share the parts: one below PARALLEL_MIN_VALUES copied values.
    if values < PARALLEL_MIN_VALUES:
        return 1
    return max(1, min(numba.get_num_threads(), shapes.image_parts(N)))


def conv2d_relu_maxpool_forward(out, which, scratch, col, inp, weight, bias, geometry):
    # out (N,Ho//2,Wo//2,F) = maxpool2x2(relu(conv(inp (N,H,W,C), weight (KH,KW,C,F)) + bias (F,))); bias None
    # for use_bias=False. which (uint8, out's shape): the winning cell of each window, or NO_WINNER.
    # scratch (shapes.image_parts(N), Ho, Wo, F): room for one image's convolution output per thread (at most
    # one per part), and where Ho, Wo are read from; col (N*Ho*Wo, KH*KW*C): the receptive fields, kept for
    # the backward.
    name = 'conv2d_relu_maxpool_forward'
    geometry, N, Ho, Wo, KH, KW, C, F = shapes.conv_pool(name, out, which, scratch, col, inp, weight, geometry)
    if bias is not None:
        shapes.shaped(name, 'bias', bias, (F,))
    weight2 = weight.reshape(KH * KW * C, F)
    bias = NO_BIAS if bias is None else bias
    runs = _runs(N, col.size)
    # gemm_rows' slot made from the arrays _forward_images hands it, so its check there cannot fail: in the
    # parallel path an error inside the loop would be lost (_compiled.py).
    rows = body_for(gemm_rows, scratch[0].reshape(Ho * Wo, F), col, weight2, bias)
    fields = slot_for(im2col_rows, (col, inp, 0, Ho, Wo, KH, KW) + geometry)
    pooling = slot_for(_pool_image, (out[0], which[0], scratch[0]))
    slots = (rows, fields, pooling)
    # A run of span images per thread, whole parts each; one run, on this thread, for runs == 1.
    span = max(1, -(-shapes.image_parts(N) // runs) * PER)
    images = (out, which, scratch, col, inp, weight2, bias, TABLE, slots, span, KH, KW, geometry)
    run(_forward_images, N, span, *images)


def conv2d_relu_maxpool_backward(dinp, dweight, dbias, weight_t, weight_parts, bias_parts, scratch, col, dout, which,
                                 inp, weight, geometry):
    # dweight (KH,KW,C,F) += col^T @ dconv, dbias (F,) += sums of dconv, dinp (N,H,W,C) = col2im(dconv @ weight^T),
    # where dconv is the gradient of the convolution output: dout (N,Ho//2,Wo//2,F) at each window's winner.
    # What is None is skipped. weight_t (F, KH*KW*C): scratch for weight^T when dinp is wanted; weight_parts
    # (image_parts(N), KH*KW*C, F) and bias_parts (image_parts(N), F): each part's sums, needed even when
    # dweight or dbias is None; scratch as in the forward; col holds the forward's im2col on entry, and
    # scratch on return when dinp is wanted.
    name = 'conv2d_relu_maxpool_backward'
    geometry, N, Ho, Wo, KH, KW, C, F = shapes.conv_pool(name, dout, which, scratch, col, inp, weight, geometry)
    shapes.conv_pool_gradients(name, dinp, dweight, dbias, weight_t, weight_parts, bias_parts, inp, weight)
    taps, parts = KH * KW * C, shapes.image_parts(N)
    if dinp is None and dweight is None and dbias is None:
        return
    want_dinp, want_dw = dinp is not None, dweight is not None
    if want_dinp:
        transpose(weight_t, weight.reshape(taps, F))
    runs = _runs(N, col.size)
    # What is not wanted is still typed: inp stands in for dinp and an empty array for weight_t, never touched.
    weight_t = weight_t if want_dinp else _EMPTY2
    # As in the forward; both products of _backward_part take these types (dconv's are weight_t's).
    rows = body_for(gemm_rows, weight_parts[0], col, weight_t, NO_BIAS)
    dinp = dinp if want_dinp else inp
    # The slots of what _backward_part calls, and its own, made from the views they are handed (an image of
    # dinp, dout and which, a part of weight_parts, bias_parts and scratch), so that no check can fail there.
    unpool = slot_for(_unpool_image, (scratch[0], bias_parts[0], dout[0], which[0]))
    fields = slot_for(col2im_image, (dinp[0], col[:Ho * Wo], Ho, Wo, KH, KW) + geometry)
    # (The three slots go as one tuple: CPython 3.11 never reuses a freed tuple of exactly 20 items, so the
    # 20 arguments they made left one behind on every step: tests/test_plan.py's allocation probe.)
    slots = (rows, unpool, fields)
    part = slot_for(_backward_part, (dinp, weight_parts[0], bias_parts[0], scratch[0], col, dout, which, weight_t,
                                     NO_BIAS, TABLE, slots, 0, 0, want_dinp, want_dw, KH, KW, geometry))
    per = max(1, -(-parts // runs))  # parts per run: all of them, on this thread, for runs == 1
    args = (dinp, weight_parts, bias_parts, scratch, col, dout, which, weight_t, NO_BIAS, TABLE, slots, part, per,
            (want_dinp, want_dw), KH, KW, geometry)
    # launch() itself, not run(): run's 3 + 17 arguments would be the 20-item tuple that _compiled.slot_for warns of.
    launch(pool(), TABLE, slot_for(_backward_runs, args + LO_HI), parts, per, *args)
    if want_dw:
        _add_parts(dweight, weight_parts)
    if dbias is not None:
        _add_parts(dbias, bias_parts)


_EMPTY2 = np.zeros((0, 0), np.float32)
