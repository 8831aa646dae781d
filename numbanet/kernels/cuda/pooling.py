"""Max and average pooling, global pooling and zero padding on the GPU. Twin of kernels/cpu/pooling.py:
the same windows, the same argmax encoding (h * W + w), the same checks before any launch, and each sum
taken in the CPU's order, so the results are the CPU's.

One thread per output cell, or per input-gradient cell where it gathers; the max-pooling backward, whose
overlapping windows may send several gradients to one cell, runs one thread per (image, channel) plane,
which zeroes its plane and adds in scan order: no atomics, the same bits on every run.
"""
import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


# ---- checks (run before any launch) ---------------------------------------------------------------------------
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


def _check_pad(name, big, small, top, left):
    _array(name, 'the padded array', big, np.float32, 4)
    _array(name, 'the unpadded array', small, np.float32, 4)
    top, left = _sizes(name, top=top, left=left)
    _check_images(name, big, small)
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
    sizes = _check_pool('max_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    _check_same('max_pool2d_forward', 'argmax', argmax, out, np.int32)
    _max_forward[blocks(out.size), THREADS](out, argmax, inp, *sizes)


def max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, OH, OW, C). Each dout goes to its window's
    # winner; overlapping windows add up there, in a fixed order.
    _array('max_pool2d_backward', 'dinp', dinp, np.float32, 4)
    _array('max_pool2d_backward', 'dout', dout, np.float32, 4)
    _check_same('max_pool2d_backward', 'argmax', argmax, dout, np.int32)
    _check_images('max_pool2d_backward', dinp, dout)
    _max_backward[blocks(dinp.shape[0] * dinp.shape[3]), THREADS](dinp, dout, argmax)


def avg_pool2d_forward(out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # out: (N, OH, OW, C); inp: (N, H, W, C). out = the mean of each window's input cells (padding not counted).
    sizes = _check_pool('avg_pool2d_forward', out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    _avg_forward[blocks(out.size), THREADS](out, inp, *sizes)


def avg_pool2d_backward(dinp, dout, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    # dinp: (N, H, W, C), overwritten; dout: (N, OH, OW, C), the sizes avg_pool2d_forward had.
    sizes = _check_pool('avg_pool2d_backward', dout, dinp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)
    _avg_backward[blocks(dinp.size), THREADS](dinp, dout, *sizes)


def global_avg_pool2d_forward(out, inp):
    # out: (N, C); inp: (N, H, W, C). out = the mean over H and W.
    _check_global('global_avg_pool2d_forward', out, inp)
    _global_avg_forward[blocks(out.size), THREADS](out, inp)


def global_avg_pool2d_backward(dinp, dout):
    # dinp: (N, H, W, C), overwritten; dout: (N, C).
    _check_global('global_avg_pool2d_backward', dout, dinp)
    _global_avg_backward[blocks(dinp.size), THREADS](dinp, dout)


def global_max_pool2d_forward(out, argmax, inp):
    # out, argmax (int32): (N, C); inp: (N, H, W, C). out = the largest over H and W, argmax = h * W + w.
    _check_global('global_max_pool2d_forward', out, inp)
    _check_same('global_max_pool2d_forward', 'argmax', argmax, out, np.int32)
    _global_max_forward[blocks(out.size), THREADS](out, argmax, inp)


def global_max_pool2d_backward(dinp, dout, argmax):
    # dinp: (N, H, W, C), overwritten; dout, argmax (int32): (N, C).
    _check_global('global_max_pool2d_backward', dout, dinp)
    _check_same('global_max_pool2d_backward', 'argmax', argmax, dout, np.int32)
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
