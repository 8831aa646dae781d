"""Pooling and zero padding, channels-last as Keras defaults: MaxPooling2D, AveragePooling2D,
GlobalMaxPooling2D, GlobalAveragePooling2D and ZeroPadding2D on (batch, height, width, channels), and the
1D forms on (batch, steps, channels), which run the 2D kernels on a (batch, 1, steps, channels) view.

Output sizes follow Keras: 'valid' keeps the windows that fit, (size - pool) // stride + 1 of them; 'same'
gives ceil(size / stride) and pads max((out - 1) * stride + pool - size, 0) cells, the smaller half before
(layers/windows.py). Padding never wins a max and is not counted in an average."""
import numpy as np

from numbanet.backend import rows
from numbanet.layers.base import Layer
from numbanet.layers.windows import channels_last, int_tuple, padding_mode, window

_LAYOUTS = {1: '(batch, steps, channels)', 2: '(batch, height, width, channels)'}


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _pad_pair(value):
    # ZeroPadding2D's padding along one axis: an int (both sides) or (before, after), non-negative.
    pair = (value, value) if _is_int(value) else tuple(value)
    if len(pair) != 2 or not all(_is_int(v) and v >= 0 for v in pair):
        raise ValueError(value)
    return tuple(int(v) for v in pair)


def _keepdims(value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"keepdims must be True or False, got {value!r}")
    return bool(value)


def _require_rank(layer, input_shape, rank):
    if len(input_shape) != rank + 1:
        raise ValueError(f"layer '{layer.name}' needs inputs shaped {_LAYOUTS[rank]}, got "
                         f"{(None,) + tuple(input_shape)}")


def _as_images(a):
    """(N, L, C) as the (N, 1, L, C) view the kernels take; (N, H, W, C) as it is."""
    if len(a.shape) == 4:
        return a
    n, steps, c = a.shape
    return a.reshape(n, 1, steps, c)


class _Pooling(Layer):
    """Windows of pool_size cells, strides apart (pool_size when None), over the steps or rows and columns."""

    rank = 2

    def __init__(self, pool_size=2, strides=None, padding='valid', data_format=None, **kwargs):
        self.pool_size = int_tuple(pool_size, self.rank, 'pool_size')
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, 'strides')
        self.padding = padding_mode(padding)
        channels_last(data_format)
        super().__init__(**kwargs)
        self.sizes = None

    def _geometry(self, input_shape):
        # The output shape, and the kernels' (pool_h, pool_w, stride_h, stride_w, pad_top, pad_left).
        _require_rank(self, input_shape, self.rank)
        dims = ('height', 'width') if self.rank == 2 else ('steps',)
        axes = [window(self, size, pool, stride, self.padding, dim)
                for size, pool, stride, dim in zip(input_shape[:-1], self.pool_size, self.strides, dims)]
        lead = (1,) * (2 - self.rank)  # a 1D input is one row of an image: a window one row high
        sizes = lead + self.pool_size + lead + self.strides + (0,) * (2 - self.rank) + tuple(pad for _, pad in axes)
        return tuple(out for out, _ in axes) + tuple(input_shape[-1:]), sizes

    def build(self, input_shape):
        self.sizes = self._geometry(input_shape)[1]

    def compute_output_shape(self, input_shape):
        return self._geometry(input_shape)[0]

    def get_config(self):
        return {**super().get_config(), 'pool_size': list(self.pool_size), 'strides': list(self.strides),
                'padding': self.padding, 'data_format': 'channels_last'}

    def extra_repr(self):
        return f"pool_size={self.pool_size}, strides={self.strides}, padding='{self.padding}'"


class _MaxPooling(_Pooling):
    """The largest value of each window; its place goes to the backward pass in an int32 workspace."""

    def workspace(self, batch, training):
        out = (1,) * (2 - self.rank) + self.compute_output_shape(self.built_input_shape)
        return {'argmax': ((batch,) + out, np.int32)}  # inference too: the forward always writes it

    def forward(self, x, out, ctx):
        ctx.k.max_pool2d_forward(_as_images(out), ctx.ws['argmax'], _as_images(x), *self.sizes)

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.max_pool2d_backward(_as_images(dx), _as_images(dout), ctx.ws['argmax'])


class _AveragePooling(_Pooling):
    """The mean of each window's input cells."""

    def forward(self, x, out, ctx):
        ctx.k.avg_pool2d_forward(_as_images(out), _as_images(x), *self.sizes)

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.avg_pool2d_backward(_as_images(dx), _as_images(dout), *self.sizes)


class MaxPooling2D(_MaxPooling):
    """MaxPooling2D(pool_size=(2, 2), strides=None, padding='valid'): (batch, H, W, C) -> (batch, H', W', C)."""


class AveragePooling2D(_AveragePooling):
    """AveragePooling2D(pool_size=(2, 2), strides=None, padding='valid'); 'same' averages the cells inside."""


class MaxPooling1D(_MaxPooling):
    """MaxPooling1D(pool_size=2, strides=None, padding='valid'): (batch, steps, C) -> (batch, steps', C)."""

    rank = 1


class AveragePooling1D(_AveragePooling):
    """AveragePooling1D(pool_size=2, strides=None, padding='valid'): (batch, steps, C) -> (batch, steps', C)."""

    rank = 1


class _GlobalPooling(Layer):
    """One value per channel over every step or cell: (batch, C), or (batch, 1, ..., C) with keepdims."""

    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        channels_last(data_format)
        self.keepdims = _keepdims(keepdims)
        super().__init__(**kwargs)

    def build(self, input_shape):
        _require_rank(self, input_shape, self.rank)

    def compute_output_shape(self, input_shape):
        _require_rank(self, input_shape, self.rank)
        return ((1,) * self.rank if self.keepdims else ()) + tuple(input_shape[-1:])

    def get_config(self):
        return {**super().get_config(), 'data_format': 'channels_last', 'keepdims': self.keepdims}

    def extra_repr(self):
        return f"keepdims={self.keepdims}"


class _GlobalMaxPooling(_GlobalPooling):
    def workspace(self, batch, training):
        return {'argmax': ((batch, self.built_input_shape[-1]), np.int32)}

    def forward(self, x, out, ctx):
        ctx.k.global_max_pool2d_forward(rows(out), ctx.ws['argmax'], _as_images(x))

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.global_max_pool2d_backward(_as_images(dx), rows(dout), ctx.ws['argmax'])


class _GlobalAveragePooling(_GlobalPooling):
    def forward(self, x, out, ctx):
        ctx.k.global_avg_pool2d_forward(rows(out), _as_images(x))

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.global_avg_pool2d_backward(_as_images(dx), rows(dout))


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """The largest value of each channel over height and width."""


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """The mean of each channel over height and width."""


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """The largest value of each channel over the steps."""

    rank = 1


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """The mean of each channel over the steps."""

    rank = 1


class ZeroPadding2D(Layer):
    """Zeros around each image: padding is an int (every side), (rows, columns) each added on both sides,
    or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        try:
            vertical, horizontal = (padding, padding) if _is_int(padding) else padding  # each an int or a pair
            self.padding = (_pad_pair(vertical), _pad_pair(horizontal))
        except (TypeError, ValueError):
            raise ValueError(f"padding must be a non-negative int, (rows, columns) or ((top, bottom), "
                             f"(left, right)) of them, got {padding!r}") from None
        channels_last(data_format)
        super().__init__(**kwargs)

    def build(self, input_shape):
        _require_rank(self, input_shape, 2)

    def compute_output_shape(self, input_shape):
        _require_rank(self, input_shape, 2)
        (top, bottom), (left, right) = self.padding
        return (input_shape[0] + top + bottom, input_shape[1] + left + right, input_shape[2])

    def forward(self, x, out, ctx):
        ctx.k.zero_pad2d_forward(out, x, self.padding[0][0], self.padding[1][0])

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.zero_pad2d_backward(dx, dout, self.padding[0][0], self.padding[1][0])

    def get_config(self):
        return {**super().get_config(), 'padding': [list(p) for p in self.padding], 'data_format': 'channels_last'}

    def extra_repr(self):
        return f"padding={self.padding}"
