"""Host-side checks that the CPU and CUDA gather, dense, convolution and pooling files share. Their loops index
without bounds checks, so every array and size they are handed is checked here first, and a bad one is a ValueError
that names the argument, raised before any kernel runs."""
import numpy as np


def array(name, what, a, ndim, dtype=np.float32):
    """a must be a C-contiguous array of ndim dimensions and this dtype."""
    dtype = np.dtype(dtype)
    if a is None or not hasattr(a, 'dtype') or not hasattr(a, 'shape'):
        raise ValueError(f"{name}: {what} must be a {dtype.name} array, got {type(a).__name__}")
    if a.dtype != dtype or len(a.shape) != ndim or not a.flags['C_CONTIGUOUS']:
        raise ValueError(f"{name}: {what} must be a C-contiguous {ndim}-d {dtype.name} array, got {a.dtype} shaped "
                         f"{tuple(a.shape)}{'' if a.flags['C_CONTIGUOUS'] else ', not contiguous'}")


def shaped(name, what, a, shape, dtype=np.float32):
    """a must be a C-contiguous array of exactly this shape and dtype."""
    array(name, what, a, len(shape), dtype)
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name}: {what} must be shaped {tuple(shape)}, got {tuple(a.shape)}")


def batch_rows(out, src, index):
    """gather_rows writes one row of out per index, each as wide as a row of src, without bounds checks."""
    if tuple(out.shape[1:]) != tuple(src.shape[1:]):
        raise ValueError(f"gather_rows: rows of {tuple(src.shape[1:])} do not fit a batch of {tuple(out.shape[1:])}")
    if index.shape[0] > out.shape[0]:
        raise ValueError(f"gather_rows: {index.shape[0]} row numbers for a batch of {out.shape[0]} rows")


def geometry(name, values):
    """(stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w) as ints: strides and dilations >= 1,
    paddings >= 0."""
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    ok = len(values) == 6 and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                                  for v in values)
    if not ok or min(values[0], values[1], values[4], values[5]) < 1 or min(values[2], values[3]) < 0:
        raise ValueError(f"{name}: geometry must be 6 ints (stride_h, stride_w, pad_top, pad_left, dilation_h, "
                         f"dilation_w), strides and dilations >= 1 and paddings >= 0, got {values!r}")
    # From a list, not a generator: tuple(generator) resizes its tuple, a fresh block on every step that
    # Python's free list then keeps (tests/test_plan.py's no-allocation probe sees it grow).
    return tuple([int(v) for v in values])


def window_sizes(name, image, KH, KW, Ho, Wo, geo):
    """Ho, Wo must be what the geometry gives: Keras pads 0 after ('valid', 'causal'), or as much as before or
    one more ('same')."""
    for what, v in (('KH', KH), ('KW', KW), ('Ho', Ho), ('Wo', Wo)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: {what} must be an int >= 1, got {v!r}")
    sh, sw, pt, pl, dh, dw = geo
    for size, k, s, pad, d, got, axis in ((image[1], KH, sh, pt, dh, Ho, 'height'), (image[2], KW, sw, pl, dw, Wo,
                                                                                    'width')):
        span = d * (k - 1) + 1
        allowed = {(size + pad + after - span) // s + 1 for after in (0, pad, pad + 1) if size + pad + after >= span}
        if got not in allowed:
            raise ValueError(f"{name}: {got} outputs along {axis} do not fit an input of {size} with a window "
                             f"spanning {span}, stride {s} and padding {pad} before")


def conv(name, out, inp, weight, geo):
    """(N, Ho, Wo, KH, KW, C, F) of a convolution whose arrays agree with each other and with geo."""
    array(name, 'inp', inp, 4)
    array(name, 'weight', weight, 4)
    array(name, 'out', out, 4)
    N, H, W, C = inp.shape
    KH, KW, Cw, F = weight.shape
    if Cw != C or out.shape[0] != N or out.shape[3] != F:
        raise ValueError(f"{name}: shapes do not fit: inp {tuple(inp.shape)}, weight {tuple(weight.shape)}, out "
                         f"{tuple(out.shape)}")
    window_sizes(name, inp.shape, KH, KW, out.shape[1], out.shape[2], geo)
    return N, out.shape[1], out.shape[2], KH, KW, C, F


def columns(name, col, N, Ho, Wo, KH, KW, C):
    shaped(name, 'col', col, (N * Ho * Wo, KH * KW * C))


# Rows of a convolution's dout per partial sum of its bias gradient (kernels/cpu/conv2d.py says why). Here,
# not in the kernel, because the layer sizes the partial sums' workspace and both devices take it.
BIAS_ROWS = 1024


def bias_parts(rows, F):
    """The shape of conv2d_backward's `bias_parts` for a dout of rows x F: one row per BIAS_ROWS rows."""
    return ((rows + BIAS_ROWS - 1) // BIAS_ROWS, F)


# ---- a convolution with ReLU and 2x2 max pooling fused (kernels/cpu/conv2d_pool.py) -------------------------
# Images per part: each part sums its own weight and bias gradients, added in part order, so the sums do not
# depend on the thread count. Here because the layer sizes the parts' workspace and both devices take it.
IMAGES_PER_PART = 8
NO_WINNER = 4  # `which` of a window whose max is <= 0: ReLU passes no gradient back


def image_parts(N):
    """How many parts of IMAGES_PER_PART a batch of N images makes."""
    return (N + IMAGES_PER_PART - 1) // IMAGES_PER_PART


def conv_pool(name, pooled, which, scratch, col, inp, weight, geo):
    """The fused convolution + ReLU + 2x2 max pool's buffers checked against each other (both devices' kernels
    call this): (geometry, N, Ho, Wo, KH, KW, C, F), with Ho, Wo (the convolution output's size) read from
    scratch (image_parts(N), Ho, Wo, F)."""
    geo = geometry(name, geo)
    array(name, 'scratch', scratch, 4)
    Ho, Wo = scratch.shape[1], scratch.shape[2]
    array(name, 'inp', inp, 4)
    array(name, 'weight', weight, 4)
    array(name, 'the pooled output', pooled, 4)
    window_sizes(name, inp.shape, weight.shape[0], weight.shape[1], Ho, Wo, geo)
    N, H, W, C = inp.shape
    KH, KW, Cw, F = weight.shape
    if Cw != C or Ho < 2 or Wo < 2 or tuple(pooled.shape) != (N, Ho // 2, Wo // 2, F):
        raise ValueError(f"{name}: shapes do not fit: inp {tuple(inp.shape)}, weight {tuple(weight.shape)}, a "
                         f"{Ho}x{Wo} convolution output pooled 2x2 to {(N, Ho // 2, Wo // 2, F)}, got "
                         f"{tuple(pooled.shape)}")
    shaped(name, 'scratch', scratch, (image_parts(N), Ho, Wo, F))
    shaped(name, 'which', which, pooled.shape, np.uint8)
    columns(name, col, N, Ho, Wo, KH, KW, C)
    return geo, N, Ho, Wo, KH, KW, C, F


def conv_pool_gradients(name, dinp, dweight, dbias, weight_t, weight_parts, bias_parts, inp, weight):
    """The fused backward's gradient and part-sum buffers checked (those that are None are skipped, but the
    part sums are always required)."""
    N, (KH, KW, C, F) = inp.shape[0], weight.shape
    taps, parts = KH * KW * C, image_parts(N)
    for what, a, shape in (('dinp', dinp, inp.shape), ('dweight', dweight, weight.shape), ('dbias', dbias, (F,)),
                           ('weight_t', weight_t if dinp is not None else None, (F, taps))):
        if a is not None:
            shaped(name, what, a, shape)
    shaped(name, 'weight_parts', weight_parts, (parts, taps, F))
    shaped(name, 'bias_parts', bias_parts, (parts, F))


# ---- pooling ---------------------------------------------------------------------------------------------------
def sizes(name, **values):
    """Window sizes as ints: paddings (pad*, top, left) >= 0, the others >= 1."""
    for what, v in values.items():
        least = 0 if what.startswith(('pad', 'top', 'left')) else 1
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < least:
            raise ValueError(f"{name}: {what} must be an int >= {least}, got {v!r}")
    return tuple([int(v) for v in values.values()])  # a list first, as in geometry()


def _pooled(size, pool, stride, pad):
    # The output sizes the windows allow: Keras pads `pad` cells before and pad or pad + 1 after, fewer in
    # all than `pool`, so that every window holds at least one input cell.
    return sorted({(size + pad + after - pool) // stride + 1 for after in (pad, pad + 1)
                   if pad + after < pool and size + pad + after >= pool})


def pool(name, out, inp, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """The window sizes as ints, once out and inp agree with them."""
    array(name, 'the output', out, 4)
    array(name, 'the input', inp, 4)
    checked = sizes(name, pool_h=pool_h, pool_w=pool_w, stride_h=stride_h, stride_w=stride_w, pad_top=pad_top,
                    pad_left=pad_left)
    N, H, W, C = inp.shape
    heights, widths = _pooled(H, pool_h, stride_h, pad_top), _pooled(W, pool_w, stride_w, pad_left)
    if out.shape[0] != N or out.shape[3] != C or out.shape[1] not in heights or out.shape[2] not in widths:
        raise ValueError(f"{name}: an input shaped {tuple(inp.shape)} in {pool_h}x{pool_w} windows, strides "
                         f"{stride_h}x{stride_w}, padded {pad_top} on top and {pad_left} on the left gives "
                         f"(N, H, W, C) = ({N}, {' or '.join(map(str, heights)) or 'none'}, "
                         f"{' or '.join(map(str, widths)) or 'none'}, {C}), not {tuple(out.shape)}")
    return checked


def images(name, a, b):
    """a and b: (N, ., ., C) with one N and one C, b the pooled (or unpadded) one."""
    if a.shape[0] != b.shape[0] or a.shape[3] != b.shape[3]:
        raise ValueError(f"{name}: {tuple(a.shape)} and {tuple(b.shape)} differ in batch or channels")
    # no window setting gives more outputs than inputs along an axis
    if b.shape[1] > a.shape[1] or b.shape[2] > a.shape[2]:
        raise ValueError(f"{name}: {tuple(b.shape)} cannot be a pooling of {tuple(a.shape)}")


def global_pool(name, out, inp):
    array(name, 'the pooled array', out, 2)
    array(name, 'the images', inp, 4)
    N, H, W, C = inp.shape
    if tuple(out.shape) != (N, C) or H * W == 0:
        raise ValueError(f"{name}: images shaped {tuple(inp.shape)} (H and W at least 1) pool to {(N, C)}, "
                         f"not {tuple(out.shape)}")
