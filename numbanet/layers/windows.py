"""What convolution and pooling layers share: reading Keras's size arguments, and where a sliding window
lands on an input (output size and padding), by Keras's rules."""
import numpy as np

PADDINGS = ('valid', 'same')


def int_tuple(value, n, what):
    """An int or n ints as a tuple of n positive ints, or a ValueError echoing the value."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = ()
    if (len(values) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                                for v in values)):
        raise ValueError(f"{what} must be a positive int or a tuple of {n} positive ints, got {value!r}")
    return tuple(int(v) for v in values)


def padding_mode(value, allowed=PADDINGS):
    """'valid' or 'same' (any case, as Keras takes them)."""
    mode = value.lower() if isinstance(value, str) else value
    if mode not in allowed:
        raise ValueError(f"padding must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return mode


def channels_last(data_format):
    if data_format not in (None, 'channels_last'):
        raise ValueError(f"numbanet computes channels-last (N, ..., C) only; data_format={data_format!r} is not "
                         f"supported: transpose the data to channels-last instead")


def window(layer, size, span, stride, padding, dim):
    """(output size, padding before) of a window spanning `span` inputs (dilation included) moved by
    `stride` over `size` inputs. 'same' gives ceil(size / stride) outputs with the padding split as Keras
    and PyTorch split it, the odd one after; 'causal' pads only before. A window that does not fit is a
    ValueError naming the layer and the sizes."""
    if padding == 'valid':
        if span > size:
            raise ValueError(f"layer '{layer.name}': its window spans {span} along {dim}, more than the {size} "
                             f"inputs there (padding='valid'); use padding='same' or a larger input")
        return (size - span) // stride + 1, 0
    if padding == 'causal':
        return (size - 1) // stride + 1, span - 1
    out = (size + stride - 1) // stride
    return out, max((out - 1) * stride + span - size, 0) // 2


def window_pads(layer, size, span, stride, padding):
    """(padding before, padding after) of window(): after is what the last window needs past the input."""
    out, before = window(layer, size, span, stride, padding, 'axis')
    return before, max((out - 1) * stride + span - size - before, 0)
