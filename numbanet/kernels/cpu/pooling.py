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
from numba import njit, prange

PARALLEL_MIN = 1 << 18     # input elements; below this a thread pool costs more than it saves (probes.md)


# ---- checks (run before any kernel) -----------------------------------------------------------------------
def _array(name, what, a, dtype, ndim):
    if a.dtype != dtype or len(a.shape) != ndim or not a.flags['C_CONTIGUOUS']:
        raise ValueError(f"{name}: {what} must be a C-contiguous {ndim}-d {np.dtype(dtype).name} array, got "
                         f"{a.dtype} shaped {tuple(a.shape)}{'' if a.flags['C_CONTIGUOUS'] else ', not contiguous'}")


def _sizes(name, **sizes):
    for what, v in sizes.items():
        least = 0 if what.startswith(('pad', 'top', 'left')) else 1
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < least:
            raise ValueError(f"{name}: {what} must be an int >= {least}, got {v!r}")
    return tuple(int(v) for v in sizes.values())


def _pooled(size, pool, stride, pad):
    # The output sizes the windows allow: Keras pads `pad` cells before and pad or pad + 1 after, fewer in
    # all than `pool`, so that every window holds at least one input cell.
    return sorted({(size + pad + after - pool) // stride + 1 for after in (pad, pad + 1)
                   if pad + after < pool and size + pad + after >= pool})


def _check_pool(name, out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    _array(name, 'the output', out, np.float32, 4)
    _array(name, 'the input', inp, np.float32, 4)
    sizes = _sizes(name, pool_h=pool_h, pool_w=pool_w, stride_h=stride_h, stride_w=stride_w, pad_top=pad_top,
                   pad_left=pad_left)
    N, H, W, C = inp.shape
    heights, widths = _pooled(H, pool_h, stride_h, pad_top), _pooled(W, pool_w, stride_w, pad_left)
    if out.shape[0] != N or out.shape[3] != C or out.shape[1] not in heights or out.shape[2] not in widths:
        raise ValueError(f"{name}: an input shaped {tuple(inp.shape)} in {pool_h}x{pool_w} windows, strides "
                         f"{stride_h}x{stride_w}, padded {pad_top} on top and {pad_left} on the left gives "
                         f"(N, H, W, C) = ({N}, {' or '.join(map(str, heights)) or 'none'}, "
                         f"{' or '.join(map(str, widths)) or 'none'}, {C}), not {tuple(out.shape)}")
    return sizes


def _check_same(name, what, a, like, dtype):
    _array(name, what, a, dtype, len(like.shape))
    if tuple(a.shape) != tuple(like.shape):
        raise ValueError(f"{name}: {what} must be shaped {tuple(like.shape)}, got {tuple(a.shape)}")


def _check_images(name, a, b):
    # a and b: (N, ., ., C) with one N and one C
    if a.shape[0] != b.shape[0] or a.shape[3] != b.shape[3]:
        raise ValueError(f"{name}: {tuple(a.shape)} and {tuple(b.shape)} differ in batch or channels")
    # b is the pooled one: no window setting gives more outputs than inputs along an axis
    if b.shape[1] > a.shape[1] or b.shape[2] > a.shape[2]:
        raise ValueError(f"{name}: {tuple(b.shape)} cannot be a pooling of {tuple(a.shape)}")


def _check_global(name, out, inp):
    _array(name, 'the pooled array', out, np.float32, 2)
    _array(name, 'the images', inp, np.float32, 4)
    N, H, W, C = inp.shape
    if tuple(out.shape) != (N, C) or H * W == 0:
        raise ValueError(f"{name}: images shaped {tuple(inp.shape)} (H and W at least 1) pool to {(N, C)}, "
                         f"not {tuple(out.shape)}")


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


@njit(cache=True, parallel=True)
def _max_forward_parallel(out, argmax, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    for n in prange(inp.shape[0]):
        _max_forward(out, argmax, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, n, n + 1)


def max_pool2d_forward(out, argmax, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # out, argmax (int32): (N, OH, OW, C); inp: (N, H, W, C). out = the largest input of each window,
    # argmax = where it is (h * W + w).
    sizes = _check_pool('max_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    _check_same('max_pool2d_forward', 'argmax', argmax, out, np.int32)
    if _parallel(inp):
        _max_forward_parallel(out, argmax, inp, *sizes)
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


@njit(cache=True, parallel=True)
def _max_backward_parallel(dinp, dout, argmax):
    for n in prange(dinp.shape[0]):
        _max_backward(dinp, dout, argmax, n, n + 1)


def max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, OH, OW, C). Each dout goes to its window's
    # winner; overlapping windows add up there, in a fixed order.
    _array('max_pool2d_backward', 'dinp', dinp, np.float32, 4)
    _array('max_pool2d_backward', 'dout', dout, np.float32, 4)
    _check_same('max_pool2d_backward', 'argmax', argmax, dout, np.int32)
    _check_images('max_pool2d_backward', dinp, dout)
    if _parallel(dinp):
        _max_backward_parallel(dinp, dout, argmax)
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


@njit(cache=True, parallel=True)
def _avg_forward_parallel(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    for n in prange(inp.shape[0]):
        _avg_forward(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, n, n + 1)


def avg_pool2d_forward(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # out: (N, OH, OW, C); inp: (N, H, W, C). out = the mean of each window's input cells (padding not counted).
    sizes = _check_pool('avg_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    if _parallel(inp):
        _avg_forward_parallel(out, inp, *sizes)
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


@njit(cache=True, parallel=True)
def _avg_backward_parallel(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    for n in prange(dinp.shape[0]):
        _avg_backward(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, n, n + 1)


def avg_pool2d_backward(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # dinp: (N, H, W, C), overwritten; dout: (N, OH, OW, C), the sizes avg_pool2d_forward had.
    sizes = _check_pool('avg_pool2d_backward', dout, dinp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    if _parallel(dinp):
        _avg_backward_parallel(dinp, dout, *sizes)
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


@njit(cache=True, parallel=True)
def _global_avg_forward_parallel(out, inp):
    for n in prange(inp.shape[0]):
        _global_avg_forward(out, inp, n, n + 1)


def global_avg_pool2d_forward(out, inp):
    # out: (N, C); inp: (N, H, W, C). out = the mean over H and W.
    _check_global('global_avg_pool2d_forward', out, inp)
    if _parallel(inp):
        _global_avg_forward_parallel(out, inp)
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


@njit(cache=True, parallel=True)
def _global_avg_backward_parallel(dinp, dout):
    for n in prange(dinp.shape[0]):
        _global_avg_backward(dinp, dout, n, n + 1)


def global_avg_pool2d_backward(dinp, dout):
    # dinp: (N, H, W, C), overwritten; dout: (N, C).
    _check_global('global_avg_pool2d_backward', dout, dinp)
    if _parallel(dinp):
        _global_avg_backward_parallel(dinp, dout)
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


@njit(cache=True, parallel=True)
def _global_max_forward_parallel(out, argmax, inp):
    for n in prange(inp.shape[0]):
        _global_max_forward(out, argmax, inp, n, n + 1)


def global_max_pool2d_forward(out, argmax, inp):
    # out, argmax (int32): (N, C); inp: (N, H, W, C). out = the largest over H and W, argmax = h * W + w.
    _check_global('global_max_pool2d_forward', out, inp)
    _check_same('global_max_pool2d_forward', 'argmax', argmax, out, np.int32)
    if _parallel(inp):
        _global_max_forward_parallel(out, argmax, inp)
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


@njit(cache=True, parallel=True)
def _global_max_backward_parallel(dinp, dout, argmax):
    for n in prange(dinp.shape[0]):
        _global_max_backward(dinp, dout, argmax, n, n + 1)


def global_max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, C).
    _check_global('global_max_pool2d_backward', dout, dinp)
    _check_same('global_max_pool2d_backward', 'argmax', argmax, dout, np.int32)
    if _parallel(dinp):
        _global_max_backward_parallel(dinp, dout, argmax)
    else:
        _global_max_backward(dinp, dout, argmax, 0, dinp.shape[0])


# ---- zero padding ---------------------------------------------------------------------------------------------
def _check_pad(name, big, small, top, left):
    _array(name, 'the padded array', big, np.float32, 4)
    _array(name, 'the unpadded array', small, np.float32, 4)
    top, left = _sizes(name, top=top, left=left)
    _check_images(name, big, small)
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


@njit(cache=True, parallel=True)
def _pad_forward_parallel(out, inp, top, left):
    for n in prange(inp.shape[0]):
        _pad_forward(out, inp, top, left, n, n + 1)


def zero_pad2d_forward(out, inp, top, left):
    # out: (N, OH, OW, C), OH >= H + top, OW >= W + left; inp: (N, H, W, C) copied to out[:, top:, left:],
    # zeros around it.
    top, left = _check_pad('zero_pad2d_forward', out, inp, top, left)
    if _parallel(out):
        _pad_forward_parallel(out, inp, top, left)
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


@njit(cache=True, parallel=True)
def _pad_backward_parallel(dinp, dout, top, left):
    for n in prange(dinp.shape[0]):
        _pad_backward(dinp, dout, top, left, n, n + 1)


def zero_pad2d_backward(dinp, dout, top, left):
    # dinp: (N, H, W, C) = dout[:, top:top+H, left:left+W] (overwritten).
    top, left = _check_pad('zero_pad2d_backward', dout, dinp, top, left)
    if _parallel(dout):
        _pad_backward_parallel(dinp, dout, top, left)
    else:
        _pad_backward(dinp, dout, top, left, 0, dinp.shape[0])
