"""Host-side checks that the CPU and CUDA convolution files share. Their loops index without bounds
checks, so every array and size they are handed is checked here first, and a bad one is a ValueError that
names the argument, raised before any kernel runs."""
import numpy as np


def array(name, what, a, ndim):
    """a must be a C-contiguous float32 array of ndim dimensions."""
    if a is None or not hasattr(a, 'dtype') or not hasattr(a, 'shape'):
        raise ValueError(f"{name}: {what} must be a float32 array, got {type(a).__name__}")
    if a.dtype != np.float32 or len(a.shape) != ndim or not a.flags['C_CONTIGUOUS']:
        raise ValueError(f"{name}: {what} must be a C-contiguous {ndim}-d float32 array, got {a.dtype} shaped "
                         f"{tuple(a.shape)}{'' if a.flags['C_CONTIGUOUS'] else ', not contiguous'}")


def shaped(name, what, a, shape):
    """a must be a C-contiguous float32 array of exactly this shape."""
    array(name, what, a, len(shape))
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name}: {what} must be shaped {tuple(shape)}, got {tuple(a.shape)}")


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
    return tuple(int(v) for v in values)


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
