"""Max and average pooling, global pooling and zero padding on channels-last images (N, H, W, C).

A window of output row o covers input rows [o * stride - pad, o * stride - pad + pool), clipped to the
input: padding cells never win a max and are not counted in an average (Keras's 'same'). The host-side
functions check every shape against the sizes before a kernel runs, so no window or index reaches past an
array. argmax holds the winning cell as h * W + w within its image and channel.

Every kernel works image by image, and every output and input-gradient cell is written by one image's
loop only: above PARALLEL_MIN input elements the images are spread over threads, with the same bits on
any thread count. Input gradients are overwritten, not accumulated.
"""
import numba
import numpy as np

from numbanet.kernels import shapes
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import bands

PARALLEL_MIN = 1 << 18     # input elements; below this a thread pool costs more than it saves (probes.md)


def _parallel(inp):
    return inp.size >= PARALLEL_MIN and inp.shape[0] > 1 and numba.get_num_threads() > 1


@njit(cache=True, inline='always')
def _window(o, stride, pad, pool, size):
    # The input cells [lo, hi) of window o, clipped to the input.
    start = o * stride - pad
    return max(start, 0), min(start + pool, size)


@njit(cache=True, inline='always')
def _windows_over(i, stride, pad, pool, count):
    # The windows [lo, hi) that hold input cell i.
    first = i + pad - pool + 1
    return ((first + stride - 1) // stride if first > 0 else 0), min((i + pad) // stride + 1, count)


# ---- max pooling ----------------------------------------------------------------------------------------------
@njit(cache=True)
def _max_forward(out, argmax, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, n0, n1):
    # One (C,) row of out and argmax at a time, compared against each (C,) row of the window: the channel
    # loop is contiguous, so it vectorises.
    _, H, W, C = inp.shape
    for n in range(n0, n1):
        for oh in range(out.shape[1]):
            h0, h1 = _window(oh, stride_h, pad_top, pool_h, H)
            for ow in range(out.shape[2]):
                w0, w1 = _window(ow, stride_w, pad_left, pool_w, W)
                best = out[n, oh, ow]
                where = argmax[n, oh, ow]
                first = inp[n, h0, w0]
                for c in range(C):
                    best[c] = first[c]
                    where[c] = h0 * W + w0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        row = inp[n, h, w]
                        cell = h * W + w
                        for c in range(C):
                            x = row[c]
                            if x > best[c]:  # strictly: the first of equal values wins
                                best[c] = x
                                where[c] = cell


def max_pool2d_forward(out, argmax, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # out, argmax (int32): (N, OH, OW, C); inp: (N, H, W, C). out = the largest input of each window,
    # argmax = where it is (h * W + w).
    sizes = shapes.pool('max_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    shapes.shaped('max_pool2d_forward', 'argmax', argmax, out.shape, np.int32)
    if _parallel(inp):
        bands(_max_forward, inp.shape[0], numba.get_num_threads(), out, argmax, inp, *sizes)
    else:
        _max_forward(out, argmax, inp, *sizes, 0, inp.shape[0])


@njit(cache=True)
def _max_backward(dinp, dout, argmax, n0, n1):
    N, H, W, C = dinp.shape
    cells = dinp.reshape((N, H * W, C))  # a view: argmax indexes its middle axis
    for n in range(n0, n1):
        cells[n] = 0.0
        for oh in range(dout.shape[1]):
            for ow in range(dout.shape[2]):
                for c in range(C):
                    i = argmax[n, oh, ow, c]
                    if 0 <= i < H * W:  # always, after max_pool2d_forward; a stray index is skipped
                        cells[n, i, c] += dout[n, oh, ow, c]


def max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, OH, OW, C). Each dout goes to its window's
    # winner; overlapping windows add up there, in a fixed order.
    shapes.array('max_pool2d_backward', 'dinp', dinp, 4)
    shapes.array('max_pool2d_backward', 'dout', dout, 4)
    shapes.shaped('max_pool2d_backward', 'argmax', argmax, dout.shape, np.int32)
    shapes.images('max_pool2d_backward', dinp, dout)
    if _parallel(dinp):
        bands(_max_backward, dinp.shape[0], numba.get_num_threads(), dinp, dout, argmax)
    else:
        _max_backward(dinp, dout, argmax, 0, dinp.shape[0])


# ---- average pooling ------------------------------------------------------------------------------------------
@njit(cache=True)
def _avg_forward(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, n0, n1):
    _, H, W, C = inp.shape
    for n in range(n0, n1):
        for oh in range(out.shape[1]):
            h0, h1 = _window(oh, stride_h, pad_top, pool_h, H)
            for ow in range(out.shape[2]):
                w0, w1 = _window(ow, stride_w, pad_left, pool_w, W)
                for c in range(C):
                    out[n, oh, ow, c] = 0.0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        for c in range(C):
                            out[n, oh, ow, c] += inp[n, h, w, c]
                count = np.float32((h1 - h0) * (w1 - w0))
                for c in range(C):
                    out[n, oh, ow, c] /= count


def avg_pool2d_forward(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # out: (N, OH, OW, C); inp: (N, H, W, C). out = the mean of each window's input cells (padding not counted).
    sizes = shapes.pool('avg_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    if _parallel(inp):
        bands(_avg_forward, inp.shape[0], numba.get_num_threads(), out, inp, *sizes)
    else:
        _avg_forward(out, inp, *sizes, 0, inp.shape[0])


@njit(cache=True)
def _avg_backward(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, n0, n1):
    # Gathered: each input cell adds up dout / count over the windows that hold it, in a fixed order.
    _, H, W, C = dinp.shape
    for n in range(n0, n1):
        for h in range(H):
            oh0, oh1 = _windows_over(h, stride_h, pad_top, pool_h, dout.shape[1])
            for w in range(W):
                ow0, ow1 = _windows_over(w, stride_w, pad_left, pool_w, dout.shape[2])
                for c in range(C):
                    dinp[n, h, w, c] = 0.0
                for oh in range(oh0, oh1):
                    h0, h1 = _window(oh, stride_h, pad_top, pool_h, H)
                    for ow in range(ow0, ow1):
                        w0, w1 = _window(ow, stride_w, pad_left, pool_w, W)
                        count = np.float32((h1 - h0) * (w1 - w0))
                        for c in range(C):
                            dinp[n, h, w, c] += dout[n, oh, ow, c] / count


def avg_pool2d_backward(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # dinp: (N, H, W, C), overwritten; dout: (N, OH, OW, C), the sizes avg_pool2d_forward had.
    sizes = shapes.pool('avg_pool2d_backward', dout, dinp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    if _parallel(dinp):
        bands(_avg_backward, dinp.shape[0], numba.get_num_threads(), dinp, dout, *sizes)
    else:
        _avg_backward(dinp, dout, *sizes, 0, dinp.shape[0])


# ---- global pooling -------------------------------------------------------------------------------------------
@njit(cache=True)
def _global_avg_forward(out, inp, n0, n1):
    _, H, W, C = inp.shape
    for n in range(n0, n1):
        for c in range(C):
            out[n, c] = 0.0
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    out[n, c] += inp[n, h, w, c]
        for c in range(C):
            out[n, c] /= np.float32(H * W)


def global_avg_pool2d_forward(out, inp):
    # out: (N, C); inp: (N, H, W, C). out = the mean over H and W.
    shapes.global_pool('global_avg_pool2d_forward', out, inp)
    if _parallel(inp):
        bands(_global_avg_forward, inp.shape[0], numba.get_num_threads(), out, inp)
    else:
        _global_avg_forward(out, inp, 0, inp.shape[0])


@njit(cache=True)
def _global_avg_backward(dinp, dout, n0, n1):
    _, H, W, C = dinp.shape
    for n in range(n0, n1):
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    dinp[n, h, w, c] = dout[n, c] / np.float32(H * W)


def global_avg_pool2d_backward(dinp, dout):
    # dinp: (N, H, W, C), overwritten; dout: (N, C).
    shapes.global_pool('global_avg_pool2d_backward', dout, dinp)
    if _parallel(dinp):
        bands(_global_avg_backward, dinp.shape[0], numba.get_num_threads(), dinp, dout)
    else:
        _global_avg_backward(dinp, dout, 0, dinp.shape[0])


@njit(cache=True)
def _global_max_forward(out, argmax, inp, n0, n1):
    _, H, W, C = inp.shape
    for n in range(n0, n1):
        for c in range(C):
            out[n, c] = inp[n, 0, 0, c]
            argmax[n, c] = 0
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    x = inp[n, h, w, c]
                    if x > out[n, c]:
                        out[n, c] = x
                        argmax[n, c] = h * W + w


def global_max_pool2d_forward(out, argmax, inp):
    # out, argmax (int32): (N, C); inp: (N, H, W, C). out = the largest over H and W, argmax = h * W + w.
    shapes.global_pool('global_max_pool2d_forward', out, inp)
    shapes.shaped('global_max_pool2d_forward', 'argmax', argmax, out.shape, np.int32)
    if _parallel(inp):
        bands(_global_max_forward, inp.shape[0], numba.get_num_threads(), out, argmax, inp)
    else:
        _global_max_forward(out, argmax, inp, 0, inp.shape[0])


@njit(cache=True)
def _global_max_backward(dinp, dout, argmax, n0, n1):
    _, H, W, C = dinp.shape
    for n in range(n0, n1):
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    dinp[n, h, w, c] = dout[n, c] if argmax[n, c] == h * W + w else 0.0


def global_max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, C).
    shapes.global_pool('global_max_pool2d_backward', dout, dinp)
    shapes.shaped('global_max_pool2d_backward', 'argmax', argmax, dout.shape, np.int32)
    if _parallel(dinp):
        bands(_global_max_backward, dinp.shape[0], numba.get_num_threads(), dinp, dout, argmax)
    else:
        _global_max_backward(dinp, dout, argmax, 0, dinp.shape[0])


# ---- zero padding ---------------------------------------------------------------------------------------------
def _check_pad(name, big, small, top, left):
    shapes.array(name, 'the padded array', big, 4)
    shapes.array(name, 'the unpadded array', small, 4)
    top, left = shapes.sizes(name, top=top, left=left)
    shapes.images(name, big, small)
    if big.shape[1] < small.shape[1] + top or big.shape[2] < small.shape[2] + left:
        raise ValueError(f"{name}: {tuple(small.shape)} placed {top} down and {left} right does not fit in "
                         f"{tuple(big.shape)}")
    return top, left


@njit(cache=True)
def _pad_forward(out, inp, top, left, n0, n1):
    _, H, W, C = inp.shape
    for n in range(n0, n1):
        for h in range(out.shape[1]):
            for w in range(out.shape[2]):
                inside = top <= h < top + H and left <= w < left + W
                for c in range(C):
                    out[n, h, w, c] = inp[n, h - top, w - left, c] if inside else 0.0


def zero_pad2d_forward(out, inp, top, left):
    # out: (N, OH, OW, C), OH >= H + top, OW >= W + left; inp: (N, H, W, C) copied to out[:, top:, left:],
    # zeros around it.
    top, left = _check_pad('zero_pad2d_forward', out, inp, top, left)
    if _parallel(out):
        bands(_pad_forward, inp.shape[0], numba.get_num_threads(), out, inp, top, left)
    else:
        _pad_forward(out, inp, top, left, 0, inp.shape[0])


@njit(cache=True)
def _pad_backward(dinp, dout, top, left, n0, n1):
    _, H, W, C = dinp.shape
    for n in range(n0, n1):
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    dinp[n, h, w, c] = dout[n, h + top, w + left, c]


def zero_pad2d_backward(dinp, dout, top, left):
    # dinp: (N, H, W, C) = dout[:, top:top+H, left:left+W] (overwritten).
    top, left = _check_pad('zero_pad2d_backward', dout, dinp, top, left)
    if _parallel(dout):
        bands(_pad_backward, dinp.shape[0], numba.get_num_threads(), dinp, dout, top, left)
    else:
        _pad_backward(dinp, dout, top, left, 0, dinp.shape[0])
