"""Conv2D on the GPU as im2col + GEMM, channels-last. Twin of kernels/cpu/conv2d.py: same names, same
arguments, same workspace (`col` holds the receptive fields from forward to backward, then the column
gradient). im2col runs one thread per col element; col2im one thread per input element, gathering the
column entries it was copied to in a fixed order: no atomics, deterministic sums.
"""
import numpy as np
from numba import cuda

from numbanet.kernels import shapes
from numbanet.kernels.cuda._grid import THREADS, blocks, no_bias
from numbanet.kernels.cuda.matmul import gemm, gemm_at, transpose
from numbanet.kernels.cuda.relu import relu_mask


@cuda.jit
def _im2col(col, inp, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw):
    i = cuda.grid(1)
    H, W, C = inp.shape[1], inp.shape[2], inp.shape[3]
    depth = col.shape[1]
    if i < col.shape[0] * depth:
        row, j = i // depth, i % depth
        c = j % C
        kx = (j // C) % KW
        ky = j // (C * KW)
        x = row % Wo
        y = (row // Wo) % Ho
        n = row // (Wo * Ho)
        iy = y * sh - pt + ky * dh
        ix = x * sw - pl + kx * dw
        if 0 <= iy < H and 0 <= ix < W:
            col[row, j] = inp[n, iy, ix, c]
        else:
            col[row, j] = 0.0


@cuda.jit
def _col2im(dinp, col, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw):
    i = cuda.grid(1)
    N, H, W, C = dinp.shape[0], dinp.shape[1], dinp.shape[2], dinp.shape[3]
    if i < N * H * W * C:
        c = i % C
        ix = (i // C) % W
        iy = (i // (C * W)) % H
        n = i // (C * W * H)
        s = np.float32(0.0)
        for ky in range(KH):
            ty = iy + pt - ky * dh  # = y * sh for the output row y that reads this input through tap ky
            if ty < 0 or ty % sh != 0 or ty // sh >= Ho:
                continue
            y = ty // sh
            for kx in range(KW):
                tx = ix + pl - kx * dw
                if tx < 0 or tx % sw != 0 or tx // sw >= Wo:
                    continue
                s += col[(n * Ho + y) * Wo + tx // sw, (ky * KW + kx) * C + c]
        dinp[n, iy, ix, c] = s


def im2col(col, inp, KH, KW, Ho, Wo, geometry):
    # col (N*Ho*Wo, KH*KW*C) = every receptive field of inp (N,H,W,C), zeros where it hangs over the edge.
    geometry = shapes.geometry('im2col', geometry)
    shapes.array('im2col', 'inp', inp, 4)
    shapes.window_sizes('im2col', inp.shape, KH, KW, Ho, Wo, geometry)
    shapes.columns('im2col', col, inp.shape[0], Ho, Wo, KH, KW, inp.shape[3])
    _im2col[blocks(col.shape[0] * col.shape[1]), THREADS](col, inp, Ho, Wo, KH, KW, *geometry)


def col2im(dinp, col, KH, KW, Ho, Wo, geometry):
    # dinp (N,H,W,C) = the sum of col's values (N*Ho*Wo, KH*KW*C) over every place each input cell was copied to.
    geometry = shapes.geometry('col2im', geometry)
    shapes.array('col2im', 'dinp', dinp, 4)
    shapes.window_sizes('col2im', dinp.shape, KH, KW, Ho, Wo, geometry)
    shapes.columns('col2im', col, dinp.shape[0], Ho, Wo, KH, KW, dinp.shape[3])
    N, H, W, C = dinp.shape
    _col2im[blocks(N * H * W * C), THREADS](dinp, col, Ho, Wo, KH, KW, *geometry)


@cuda.jit
def _bias_parts(parts, dout, relu_out, relu):
    # One thread per (part, column): the column sum of BIAS_ROWS rows of dout, masked as relu_mask masks
    # it when relu; the same partial sums as the CPU kernel's, so dbias has the same order of additions.
    i = cuda.grid(1)
    if i < parts.shape[0] * parts.shape[1]:
        t, f = i // parts.shape[1], i % parts.shape[1]
        s = np.float32(0.0)
        for r in range(t * shapes.BIAS_ROWS, min(dout.shape[0], (t + 1) * shapes.BIAS_ROWS)):
            if relu and not relu_out[r, f] > 0.0:
                dout[r, f] = 0.0
            s += dout[r, f]
        parts[t, f] = s


@cuda.jit
def _add_parts(dbias, parts):
    f = cuda.grid(1)
    if f < dbias.shape[0]:
        s = dbias[f]
        for t in range(parts.shape[0]):
            s += parts[t, f]
        dbias[f] = s


def _flat(array, rows, cols):
    return array.reshape(rows, cols)


def conv2d_forward(out, col, inp, weight, bias, geometry, relu=False):
    # out (N,Ho,Wo,F) = conv(inp (N,H,W,C), weight (KH,KW,C,F)) + bias (F,); bias None for use_bias=False;
    # relu: then max(out, 0), fused.
    geometry = shapes.geometry('conv2d_forward', geometry)
    N, Ho, Wo, KH, KW, C, F = shapes.conv('conv2d_forward', out, inp, weight, geometry)
    shapes.columns('conv2d_forward', col, N, Ho, Wo, KH, KW, C)
    if bias is not None:
        shapes.shaped('conv2d_forward', 'bias', bias, (F,))
    im2col(col, inp, KH, KW, Ho, Wo, geometry)
    gemm(_flat(out, N * Ho * Wo, F), col, _flat(weight, KH * KW * C, F), bias, False, relu)


def conv2d_backward(dinp, dweight, dbias, weight_t, bias_parts, col, dout, inp, weight, geometry, relu_out=None):
    # dweight (KH,KW,C,F) += col^T @ dout, dbias (F,) += sums of dout over (N,Ho,Wo), dinp (N,H,W,C) =
    # col2im(dout @ weight^T). col holds the forward's im2col on entry and the column gradient on return.
    # relu_out: the output of a fused ReLU; dout is first zeroed in place where relu_out <= 0.
    # bias_parts (shapes.bias_parts(N*Ho*Wo, F)): dbias's partial sums, as on the CPU; many threads per
    # column rather than one walking every row of a large dout.
    geometry = shapes.geometry('conv2d_backward', geometry)
    N, Ho, Wo, KH, KW, C, F = shapes.conv('conv2d_backward', dout, inp, weight, geometry)
    shapes.columns('conv2d_backward', col, N, Ho, Wo, KH, KW, C)
    for what, a, shape in (('dinp', dinp, inp.shape), ('dweight', dweight, weight.shape), ('dbias', dbias, (F,)),
                           ('weight_t', weight_t if dinp is not None else None, (F, KH * KW * C)),
                           ('relu_out', relu_out, dout.shape)):
        if a is not None:
            shapes.shaped('conv2d_backward', what, a, shape)
    if dbias is not None:
        shapes.shaped('conv2d_backward', 'bias_parts', bias_parts, shapes.bias_parts(N * Ho * Wo, F))
    dout2 = _flat(dout, N * Ho * Wo, F)
    relu = relu_out is not None
    if dbias is not None:
        _bias_parts[blocks(bias_parts.size), THREADS](bias_parts, dout2, _flat(relu_out, N * Ho * Wo, F) if relu
                                                      else dout2, relu)
        _add_parts[blocks(F), THREADS](dbias, bias_parts)
    elif relu:
        relu_mask(dout2, _flat(relu_out, N * Ho * Wo, F))
    if dweight is not None:
        gemm_at(_flat(dweight, KH * KW * C, F), col, dout2, True)
    if dinp is not None:
        transpose(weight_t, _flat(weight, KH * KW * C, F))
        gemm(col, dout2, weight_t, None, False)
        col2im(dinp, col, KH, KW, Ho, Wo, geometry)


@cuda.jit
def _reference(out, inp, weight, bias, sh, sw, pt, pl, dh, dw):
    # One thread per output element, the taps summed in the order im2col lays them out.
    i = cuda.grid(1)
    N, Ho, Wo, F = out.shape[0], out.shape[1], out.shape[2], out.shape[3]
    H, W, C = inp.shape[1], inp.shape[2], inp.shape[3]
    if i < N * Ho * Wo * F:
        f = i % F
        x = (i // F) % Wo
        y = (i // (F * Wo)) % Ho
        n = i // (F * Wo * Ho)
        s = bias[f] if bias.shape[0] > 0 else np.float32(0.0)
        for ky in range(weight.shape[0]):
            iy = y * sh - pt + ky * dh
            for kx in range(weight.shape[1]):
                ix = x * sw - pl + kx * dw
                if 0 <= iy < H and 0 <= ix < W:
                    for c in range(C):
                        s += inp[n, iy, ix, c] * weight[ky, kx, c, f]
        out[n, y, x, f] = s


def conv2d_reference(out, inp, weight, bias, geometry):
    """The direct convolution conv2d_forward is tested against: no im2col, no shared memory."""
    geometry = shapes.geometry('conv2d_reference', geometry)
    shapes.conv('conv2d_reference', out, inp, weight, geometry)
    _reference[blocks(out.size), THREADS](out, inp, weight, no_bias() if bias is None else bias, *geometry)
