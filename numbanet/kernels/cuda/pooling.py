"""Max and average pooling, global pooling and zero padding on the GPU. Twin of kernels/cpu/pooling.py:
the same windows, the same argmax encoding (h * W + w), the same checks before any launch, and each sum
taken in the CPU's order, so the results are the CPU's.

One thread per output cell, or per input-gradient cell where it gathers; the max-pooling backward, whose
overlapping windows may send several gradients to one cell, runs one thread per (image, channel) plane,
which zeroes its plane and adds in scan order: no atomics, the same bits on every run.
"""
import numpy as np
from numba import cuda

from numbanet.kernels import shapes
from numbanet.kernels.cuda._grid import THREADS, blocks


def _check_pad(name, big, small, top, left):
    shapes.array(name, 'the padded array', big, 4)
    shapes.array(name, 'the unpadded array', small, 4)
    top, left = shapes.sizes(name, top=top, left=left)
    shapes.images(name, big, small)
    if big.shape[1] < small.shape[1] + top or big.shape[2] < small.shape[2] + left:
        raise ValueError(f"{name}: {tuple(small.shape)} placed {top} down and {left} right does not fit in "
                         f"{tuple(big.shape)}")
    return top, left


# ---- device functions -----------------------------------------------------------------------------------------
@cuda.jit(device=True, inline='always')
def _cell(i, shape):
    # The (n, h, w, c) of flat index i in a C-contiguous (N, H, W, C) array.
    c = i % shape[3]
    i //= shape[3]
    w = i % shape[2]
    i //= shape[2]
    return i // shape[1], i % shape[1], w, c


@cuda.jit(device=True, inline='always')
def _window(o, stride, pad, pool, size):
    # The input cells [lo, hi) of window o, clipped to the input.
    start = o * stride - pad
    return max(start, 0), min(start + pool, size)


@cuda.jit(device=True, inline='always')
def _windows_over(i, stride, pad, pool, count):
    # The windows [lo, hi) that hold input cell i.
    first = i + pad - pool + 1
    return ((first + stride - 1) // stride if first > 0 else 0), min((i + pad) // stride + 1, count)


# ---- kernels --------------------------------------------------------------------------------------------------
@cuda.jit
def _max_forward(out, argmax, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    i = cuda.grid(1)
    if i < out.size:
        n, oh, ow, c = _cell(i, out.shape)
        W = inp.shape[2]
        h0, h1 = _window(oh, stride_h, pad_top, pool_h, inp.shape[1])
        w0, w1 = _window(ow, stride_w, pad_left, pool_w, W)
        best, at = inp[n, h0, w0, c], h0 * W + w0
        for h in range(h0, h1):
            for w in range(w0, w1):
                x = inp[n, h, w, c]
                if x > best:  # strictly: the first of equal values wins
                    best, at = x, h * W + w
        out[n, oh, ow, c] = best
        argmax[n, oh, ow, c] = at


@cuda.jit
def _max_backward(dinp, dout, argmax):
    i = cuda.grid(1)
    N, H, W, C = dinp.shape
    if i < N * C:
        n, c = i // C, i % C
        for h in range(H):
            for w in range(W):
                dinp[n, h, w, c] = 0.0
        for oh in range(dout.shape[1]):
            for ow in range(dout.shape[2]):
                j = argmax[n, oh, ow, c]
                if 0 <= j < H * W:  # always, after max_pool2d_forward; a stray index is skipped
                    dinp[n, j // W, j % W, c] += dout[n, oh, ow, c]


@cuda.jit
def _avg_forward(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    i = cuda.grid(1)
    if i < out.size:
        n, oh, ow, c = _cell(i, out.shape)
        h0, h1 = _window(oh, stride_h, pad_top, pool_h, inp.shape[1])
        w0, w1 = _window(ow, stride_w, pad_left, pool_w, inp.shape[2])
        acc = np.float32(0.0)
        for h in range(h0, h1):
            for w in range(w0, w1):
                acc += inp[n, h, w, c]
        out[n, oh, ow, c] = acc / np.float32((h1 - h0) * (w1 - w0))


@cuda.jit
def _avg_backward(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    i = cuda.grid(1)
    if i < dinp.size:
        n, h, w, c = _cell(i, dinp.shape)
        H, W = dinp.shape[1], dinp.shape[2]
        oh0, oh1 = _windows_over(h, stride_h, pad_top, pool_h, dout.shape[1])
        ow0, ow1 = _windows_over(w, stride_w, pad_left, pool_w, dout.shape[2])
        acc = np.float32(0.0)
        for oh in range(oh0, oh1):
            h0, h1 = _window(oh, stride_h, pad_top, pool_h, H)
            for ow in range(ow0, ow1):
                w0, w1 = _window(ow, stride_w, pad_left, pool_w, W)
                acc += dout[n, oh, ow, c] / np.float32((h1 - h0) * (w1 - w0))
        dinp[n, h, w, c] = acc


@cuda.jit
def _global_avg_forward(out, inp):
    i = cuda.grid(1)
    N, H, W, C = inp.shape
    if i < N * C:
        n, c = i // C, i % C
        acc = np.float32(0.0)
        for h in range(H):
            for w in range(W):
                acc += inp[n, h, w, c]
        out[n, c] = acc / np.float32(H * W)


@cuda.jit
def _global_avg_backward(dinp, dout):
    i = cuda.grid(1)
    if i < dinp.size:
        n, h, w, c = _cell(i, dinp.shape)
        dinp[n, h, w, c] = dout[n, c] / np.float32(dinp.shape[1] * dinp.shape[2])


@cuda.jit
def _global_max_forward(out, argmax, inp):
    i = cuda.grid(1)
    N, H, W, C = inp.shape
    if i < N * C:
        n, c = i // C, i % C
        best, at = inp[n, 0, 0, c], 0
        for h in range(H):
            for w in range(W):
                x = inp[n, h, w, c]
                if x > best:
                    best, at = x, h * W + w
        out[n, c] = best
        argmax[n, c] = at


@cuda.jit
def _global_max_backward(dinp, dout, argmax):
    i = cuda.grid(1)
    if i < dinp.size:
        n, h, w, c = _cell(i, dinp.shape)
        dinp[n, h, w, c] = dout[n, c] if argmax[n, c] == h * dinp.shape[2] + w else np.float32(0.0)


@cuda.jit
def _pad_forward(out, inp, top, left):
    i = cuda.grid(1)
    if i < out.size:
        n, h, w, c = _cell(i, out.shape)
        if top <= h < top + inp.shape[1] and left <= w < left + inp.shape[2]:
            out[n, h, w, c] = inp[n, h - top, w - left, c]
        else:
            out[n, h, w, c] = 0.0


@cuda.jit
def _pad_backward(dinp, dout, top, left):
    i = cuda.grid(1)
    if i < dinp.size:
        n, h, w, c = _cell(i, dinp.shape)
        dinp[n, h, w, c] = dout[n, h + top, w + left, c]


# ---- the kernel set's functions -------------------------------------------------------------------------------
def max_pool2d_forward(out, argmax, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # out, argmax (int32): (N, OH, OW, C); inp: (N, H, W, C). out = the largest input of each window,
    # argmax = where it is (h * W + w).
    sizes = shapes.pool('max_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    shapes.shaped('max_pool2d_forward', 'argmax', argmax, out.shape, np.int32)
    _max_forward[blocks(out.size), THREADS](out, argmax, inp, *sizes)


def max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, OH, OW, C). Each dout goes to its window's
    # winner; overlapping windows add up there, in a fixed order.
    shapes.array('max_pool2d_backward', 'dinp', dinp, 4)
    shapes.array('max_pool2d_backward', 'dout', dout, 4)
    shapes.shaped('max_pool2d_backward', 'argmax', argmax, dout.shape, np.int32)
    shapes.images('max_pool2d_backward', dinp, dout)
    _max_backward[blocks(dinp.shape[0] * dinp.shape[3]), THREADS](dinp, dout, argmax)


def avg_pool2d_forward(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # out: (N, OH, OW, C); inp: (N, H, W, C). out = the mean of each window's input cells (padding not counted).
    sizes = shapes.pool('avg_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    _avg_forward[blocks(out.size), THREADS](out, inp, *sizes)


def avg_pool2d_backward(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # dinp: (N, H, W, C), overwritten; dout: (N, OH, OW, C), the sizes avg_pool2d_forward had.
    sizes = shapes.pool('avg_pool2d_backward', dout, dinp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    _avg_backward[blocks(dinp.size), THREADS](dinp, dout, *sizes)


def global_avg_pool2d_forward(out, inp):
    # out: (N, C); inp: (N, H, W, C). out = the mean over H and W.
    shapes.global_pool('global_avg_pool2d_forward', out, inp)
    _global_avg_forward[blocks(out.size), THREADS](out, inp)


def global_avg_pool2d_backward(dinp, dout):
    # dinp: (N, H, W, C), overwritten; dout: (N, C).
    shapes.global_pool('global_avg_pool2d_backward', dout, dinp)
    _global_avg_backward[blocks(dinp.size), THREADS](dinp, dout)


def global_max_pool2d_forward(out, argmax, inp):
    # out, argmax (int32): (N, C); inp: (N, H, W, C). out = the largest over H and W, argmax = h * W + w.
    shapes.global_pool('global_max_pool2d_forward', out, inp)
    shapes.shaped('global_max_pool2d_forward', 'argmax', argmax, out.shape, np.int32)
    _global_max_forward[blocks(out.size), THREADS](out, argmax, inp)


def global_max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, C).
    shapes.global_pool('global_max_pool2d_backward', dout, dinp)
    shapes.shaped('global_max_pool2d_backward', 'argmax', argmax, dout.shape, np.int32)
    _global_max_backward[blocks(dinp.size), THREADS](dinp, dout, argmax)


def zero_pad2d_forward(out, inp, top, left):
    # out: (N, OH, OW, C), OH >= H + top, OW >= W + left; inp: (N, H, W, C) copied to out[:, top:, left:],
    # zeros around it.
    top, left = _check_pad('zero_pad2d_forward', out, inp, top, left)
    _pad_forward[blocks(out.size), THREADS](out, inp, top, left)


def zero_pad2d_backward(dinp, dout, top, left):
    # dinp: (N, H, W, C) = dout[:, top:top+H, left:left+W] (overwritten).
    top, left = _check_pad('zero_pad2d_backward', dout, dinp, top, left)
    _pad_backward[blocks(dinp.size), THREADS](dinp, dout, top, left)
