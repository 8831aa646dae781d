"""Conv2D as im2col + GEMM, channels-last: inp (N,H,W,C), weight (KH,KW,C,F) as Keras stores it, out (N,Ho,Wo,F).

im2col copies every receptive field into one row of `col` (N*Ho*Wo, KH*KW*C), in the order (ky, kx, c)
that weight.reshape(KH*KW*C, F) already has, so the convolution is one product with our GEMM tiles. This
beat a direct convolution at the MNIST convnet's shapes: the product runs at GEMM speed, while the copy
is one streaming pass. The backward reuses `col`: the weight gradient reads it first, then it is
overwritten with the column gradient, which col2im scatters back into the image. One workspace buffer,
allocated once per batch shape, serves both.

`geometry` is (stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w); padding cells are zeros.
Both copies run one image per iteration, so each output cell is written by one thread in a fixed order:
results do not depend on the thread count.
"""
import numba
import numpy as np

from numbanet.kernels import shapes
from numbanet.kernels.cpu._columns import col2im_image, im2col_rows
from numbanet.kernels.cpu._compiled import TABLE, call
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import bands
from numbanet.kernels.cpu._tiles import NO_BIAS, PARALLEL_MIN_FLOPS, body_for, gemm_rows
from numbanet.kernels.cpu.matmul import gemm, gemm_at, transpose
from numbanet.kernels.cpu.relu import relu_mask

# Below this many copied values per batch a thread pool costs more than it saves.
PARALLEL_MIN_VALUES = 1 << 16


@njit(cache=True)
def _col2im_rows(dinp, col, n, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw):
    P = Ho * Wo
    col2im_image(dinp[n], col[n * P:(n + 1) * P], Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw)


@njit(cache=True)
def _input_grad_images(dinp, col, dout2, weight_t, no_bias, table, rows, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw, n0,
                       n1):
    # Images n0..n1 (a thread's run, _launch.py): each one's column gradient dout @ weight^T, then col2im, while
    # it is still in L2.
    # The rows of image n0 in col serve as scratch for every image of the run: the forward's columns
    # are spent once the weight gradient is taken, and a column gradient the size of the batch would
    # go out to memory and back.
    P = Ho * Wo
    scratch = col[n0 * P:(n0 + 1) * P]
    for n in range(n0, n1):
        # table[rows]: gemm_rows, through its address (_compiled.py): linked in, it and its tiles would compile
        # again here.
        call(table, rows, scratch, dout2[n * P:(n + 1) * P, :], weight_t, no_bias, np.bool_(False),
             np.bool_(False), np.int64(0), np.int64(P))
        col2im_image(dinp[n], scratch, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw)


@njit(cache=True)
def _im2col_images(col, inp, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw, n0, n1):
    for n in range(n0, n1):
        im2col_rows(col, inp, n, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw)


@njit(cache=True)
def _col2im_images(dinp, col, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw, n0, n1):
    for n in range(n0, n1):
        _col2im_rows(dinp, col, n, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw)


# Rows of dout per partial bias sum (shapes.BIAS_ROWS: the layer sizes `parts` from it). The partial sums are
# added in row order, so the bias gradient has the same bits on any thread count, and the pass that masks
# dout behind a fused ReLU takes the sums on its way (a first layer's dout is 11 MB in the MNIST convnet:
# every pass over it counts). `parts` is the caller's workspace, so a step allocates nothing.
BIAS_ROWS = shapes.BIAS_ROWS


@njit(cache=True)
def _mask_and_sum_rows(part, dout, relu_out, relu, r0, r1):
    for f in range(part.shape[0]):
        part[f] = 0.0
    for r in range(r0, r1):
        g = dout[r]
        if relu:
            o = relu_out[r]
            for f in range(g.shape[0]):
                if not o[f] > 0.0:
                    g[f] = 0.0
        for f in range(g.shape[0]):
            part[f] += g[f]


@njit(cache=True)
def _add_parts(dbias, parts):
    for t in range(parts.shape[0]):
        for f in range(dbias.shape[0]):
            dbias[f] += parts[t, f]


@njit(cache=True)
def _mask_and_sum_parts(parts, dout, relu_out, relu, t0, t1):
    # dout (R,F): zeroed where relu_out <= 0 when relu, in the rows of parts t0..t1 of parts
    # (ceil(R / BIAS_ROWS), F), each of which gets its rows' column sums.
    R = dout.shape[0]
    for t in range(t0, t1):
        _mask_and_sum_rows(parts[t], dout, relu_out, relu, t * BIAS_ROWS, min(R, (t + 1) * BIAS_ROWS))


def _parallel(values):
    return values >= PARALLEL_MIN_VALUES and numba.get_num_threads() > 1


def im2col(col, inp, KH, KW, Ho, Wo, geometry):
    # col (N*Ho*Wo, KH*KW*C) = every receptive field of inp (N,H,W,C), zeros where it hangs over the edge.
    geometry = shapes.geometry('im2col', geometry)
    shapes.array('im2col', 'inp', inp, 4)
    shapes.window_sizes('im2col', inp.shape, KH, KW, Ho, Wo, geometry)
    shapes.columns('im2col', col, inp.shape[0], Ho, Wo, KH, KW, inp.shape[3])
    if _parallel(col.size):
        bands(_im2col_images, inp.shape[0], numba.get_num_threads(), col, inp, Ho, Wo, KH, KW, *geometry)
    else:
        _im2col_images(col, inp, Ho, Wo, KH, KW, *geometry, 0, inp.shape[0])


def col2im(dinp, col, KH, KW, Ho, Wo, geometry):
    # dinp (N,H,W,C) = the sum of col's values (N*Ho*Wo, KH*KW*C) over every place each input cell was copied to.
    geometry = shapes.geometry('col2im', geometry)
    shapes.array('col2im', 'dinp', dinp, 4)
    shapes.window_sizes('col2im', dinp.shape, KH, KW, Ho, Wo, geometry)
    shapes.columns('col2im', col, dinp.shape[0], Ho, Wo, KH, KW, dinp.shape[3])
    if _parallel(col.size):
        bands(_col2im_images, dinp.shape[0], numba.get_num_threads(), dinp, col, Ho, Wo, KH, KW, *geometry)
    else:
        _col2im_images(dinp, col, Ho, Wo, KH, KW, *geometry, 0, dinp.shape[0])


def conv2d_forward(out, col, inp, weight, bias, geometry, relu=False):
    # out (N,Ho,Wo,F) = conv(inp (N,H,W,C), weight (KH,KW,C,F)) + bias (F,); bias None for use_bias=False;
    # relu: then max(out, 0), fused. col (N*Ho*Wo, KH*KW*C) is the workspace the backward reads.
    geometry = shapes.geometry('conv2d_forward', geometry)
    N, Ho, Wo, KH, KW, C, F = shapes.conv('conv2d_forward', out, inp, weight, geometry)
    shapes.columns('conv2d_forward', col, N, Ho, Wo, KH, KW, C)
    if bias is not None:
        shapes.shaped('conv2d_forward', 'bias', bias, (F,))
    im2col(col, inp, KH, KW, Ho, Wo, geometry)
    gemm(out.reshape(N * Ho * Wo, F), col, weight.reshape(KH * KW * C, F), bias, False, relu)


def conv2d_backward(dinp, dweight, dbias, weight_t, bias_parts, col, dout, inp, weight, geometry, relu_out=None):
    # dweight (KH,KW,C,F) += col^T @ dout, dbias (F,) += sums of dout over (N,Ho,Wo), dinp (N,H,W,C) =
    # col2im(dout @ weight^T). col holds the forward's im2col on entry and scratch on return.
    # What is None is skipped, as in dense_backward; weight_t (F, KH*KW*C) is scratch for weight^T,
    # bias_parts (shapes.bias_parts(N*Ho*Wo, F)) scratch for dbias's partial sums.
    # relu_out: the output of a fused ReLU (conv2d_forward's relu=True); dout is then first zeroed in
    # place where relu_out <= 0, in the pass that sums it for dbias.
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
    taps = KH * KW * C
    dout2 = dout.reshape(N * Ho * Wo, F)
    relu = relu_out is not None
    if dbias is not None:
        args = (bias_parts, dout2, relu_out.reshape(N * Ho * Wo, F) if relu else dout2, relu)
        parts = bias_parts.shape[0]
        if _parallel(dout2.size):
            bands(_mask_and_sum_parts, parts, numba.get_num_threads(), *args)
        else:
            _mask_and_sum_parts(*args, 0, parts)
        _add_parts(dbias, bias_parts)
    elif relu:
        relu_mask(dout2, relu_out.reshape(N * Ho * Wo, F))
    if dweight is not None:
        gemm_at(dweight.reshape(taps, F), col, dout2, True)
    if dinp is not None:
        transpose(weight_t, weight.reshape(taps, F))
        threads = numba.get_num_threads()
        # gemm_rows' slot made from the arrays _input_grad_images hands it (conv2d_pool.py: why).
        rows = body_for(gemm_rows, col, dout2, weight_t, NO_BIAS)
        images = (dinp, col, dout2, weight_t, NO_BIAS, TABLE, rows, Ho, Wo, KH, KW, *geometry)
        if threads > 1 and N > 1 and 2 * col.size * F >= PARALLEL_MIN_FLOPS:
            bands(_input_grad_images, N, threads, *images)
        else:
            _input_grad_images(*images, 0, N)


@njit(cache=True)
def _reference(out, inp, weight, bias, sh, sw, pt, pl, dh, dw):
    N, Ho, Wo, F = out.shape
    H, W, C = inp.shape[1], inp.shape[2], inp.shape[3]
    for n in range(N):
        for y in range(Ho):
            for x in range(Wo):
                for f in range(F):
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
    """The direct convolution conv2d_forward is tested against: no im2col, no tiles."""
    geometry = shapes.geometry('conv2d_reference', geometry)
    shapes.conv('conv2d_reference', out, inp, weight, geometry)
    _reference(out, inp, weight, NO_BIAS if bias is None else bias, *geometry)
