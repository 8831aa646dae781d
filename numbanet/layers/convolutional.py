"""Conv2D on (batch, H, W, C) and Conv1D on (batch, L, C), channels-last with kernels (kh, kw, in, out) and
(k, in, out) as Keras stores them. Conv1D is Conv2D over a height of one: the same kernels, through views."""
import numpy as np

from numbanet.checks import positive_int
from numbanet.kernels.shapes import bias_parts, image_parts
from numbanet.layers.core import KernelLayer
from numbanet.layers.pooling import MaxPooling2D
from numbanet.layers.windows import channels_last, int_tuple, padding_mode, window


class _Conv(KernelLayer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding='valid', data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer='glorot_uniform',
                 bias_initializer='zeros', kernel_regularizer=None, bias_regularizer=None, **kwargs):
        n = self.rank
        self.filters = positive_int(filters, 'filters')
        self.kernel_size = int_tuple(kernel_size, n, 'kernel_size')
        self.strides = int_tuple(strides, n, 'strides')
        self.dilation_rate = int_tuple(dilation_rate, n, 'dilation_rate')
        self.padding = padding_mode(padding, ('valid', 'same', 'causal') if n == 1 else ('valid', 'same'))
        channels_last(data_format)
        if groups != 1:
            raise ValueError(f"grouped convolutions are not supported: groups must be 1, got {groups!r}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            # Keras refuses the combination too: a dilated kernel moved by more than one skips inputs.
            raise ValueError(f"strides > 1 and dilation_rate > 1 cannot be combined, got strides={self.strides}, "
                             f"dilation_rate={self.dilation_rate}")
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)
        self.windows = None  # (output size, kernel geometry), set by build

    # ---- shapes: every layer works on (H, W, C); Conv1D's (L, C) is (1, L, C) --------------------------------
    def _image(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 1:
            want = '(batch, length, channels)' if self.rank == 1 else '(batch, height, width, channels)'
            raise ValueError(f"layer '{self.name}' needs inputs shaped {want}; got {(None,) + input_shape}")
        return (1,) + input_shape if self.rank == 1 else input_shape

    def geometry(self, input_shape):
        """((Ho, Wo), (stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w)): where the windows land
        on an input of this shape (batch left out), as the conv2d kernels take it; Conv1D's Ho is 1. Public
        for the int8 convolutions (quantization.py), which run the same windows."""
        H, W, _ = self._image(input_shape)
        ks, st, dil = ((1,) * (2 - self.rank) + t for t in (self.kernel_size, self.strides, self.dilation_rate))
        dims = ('height', 'width') if self.rank == 2 else ('', 'length')
        sizes, pads = [], []
        for size, k, s, d, dim in zip((H, W), ks, st, dil, dims):
            out, pad = window(self, size, d * (k - 1) + 1, s, self.padding if dim else 'valid', dim)
            sizes.append(out)
            pads.append(pad)
        return tuple(sizes), (st[0], st[1], pads[0], pads[1], dil[0], dil[1])

    def _kernel2d(self, value):
        return value if self.rank == 2 else value.reshape((1,) + tuple(value.shape))

    def _as_image(self, array):
        return array if array is None or self.rank == 2 else array.reshape((array.shape[0], 1) + tuple(array.shape[1:]))

    def build(self, input_shape):
        channels = self._image(input_shape)[-1]
        # Where the windows land, worked out once (it also refuses a window that does not fit): forward and
        # backward read it every step.
        self.windows = self.geometry(input_shape)
        self.add_kernel_and_bias(self.kernel_size + (channels, self.filters))

    def compute_output_shape(self, input_shape):
        (Ho, Wo), _ = self.geometry(input_shape)
        return (Wo, self.filters) if self.rank == 1 else (Ho, Wo, self.filters)

    def workspace(self, batch, training):
        # col: every receptive field as a row, kept from forward to backward and reused there for the
        # column gradient; weight_t: the kernel transposed, for the input gradient's product; bias_parts:
        # the bias gradient's partial sums.
        (Ho, Wo), _ = self.windows
        depth = int(np.prod(self.kernel_size)) * self.built_input_shape[-1]
        ws = {'col': (batch * Ho * Wo, depth)}
        if training:
            ws.update(weight_t=(self.filters, depth), bias_parts=bias_parts(batch * Ho * Wo, self.filters))
        return ws

    # As Dense: ReLU fused into the product's output, its backward a mask on dout in place.
    fused_activations = ('relu',)

    def forward(self, x, out, ctx):
        _, geometry = self.windows
        ctx.k.conv2d_forward(self._as_image(out), ctx.ws['col'], self._as_image(x), self._kernel2d(self.kernel.value),
                             self.bias.value if self.use_bias else None, geometry, self.activation.name == 'relu')

    def backward(self, x, out, dout, dx, ctx):
        _, geometry = self.windows
        trains = self.trainable
        ctx.k.conv2d_backward(self._as_image(dx), self._kernel2d(self.kernel.grad) if trains else None,
                              self.bias.grad if trains and self.use_bias else None, ctx.ws.get('weight_t'),
                              ctx.ws.get('bias_parts'), ctx.ws['col'], self._as_image(dout), self._as_image(x),
                              self._kernel2d(self.kernel.value), geometry,
                              self._as_image(out) if self.activation.name == 'relu' else None)

    def get_config(self):
        return self.kernel_config(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                                  padding=self.padding, dilation_rate=list(self.dilation_rate))

    def extra_repr(self):
        extra = f"filters={self.filters}, kernel_size={self.kernel_size}"
        if max(self.strides) > 1:
            extra += f", strides={self.strides}"
        if max(self.dilation_rate) > 1:
            extra += f", dilation_rate={self.dilation_rate}"
        return f"{extra}, padding={self.padding}, activation={self.activation.name}"


class Conv2D(_Conv):
    """2-D convolution: out = activation(conv(inp, kernel) + bias), inp (batch, H, W, C), kernel
    (kh, kw, C, filters). padding 'valid' or 'same'; strides and dilation_rate an int or a pair."""
    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding='valid', data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, **kwargs)

    def fuse(self, reader):
        if type(self) is Conv2D and self.activation.name == 'relu' and type(reader) is MaxPooling2D \
                and reader.pool_size == reader.strides == (2, 2) and reader.padding == 'valid':
            return ConvReluMaxPool(self)


class ConvReluMaxPool:
    """Conv2D(activation='relu') and the MaxPooling2D(2) that alone reads it as one plan step (kernels/cpu/
    conv2d_pool.py): the convolution's output is never made whole. The layers and their weights are untouched."""
    single_input, computes, activation, fused_activations, after_step = True, True, None, (), None
    trainable, weights_list = property(lambda self: self.conv.trainable), property(lambda self: self.conv.weights_list)

    def __init__(self, conv):
        self.conv = conv

    def __repr__(self):
        return f"<ConvReluMaxPool of {self.conv.name}>"

    def workspace(self, batch, training):
        # As Conv2D's, and scratch (an image's conv output per thread), which (each window's winner), part sums.
        (Ho, Wo), _ = self.conv.windows
        F, parts = self.conv.filters, image_parts(batch)
        ws = {**self.conv.workspace(batch, False), 'scratch': (parts, Ho, Wo, F),
              'which': ((batch, Ho // 2, Wo // 2, F), np.uint8)}
        if training:
            depth = ws['col'][1]
            ws.update(weight_t=(F, depth), weight_parts=(parts, depth, F), bias_parts=(parts, F))
        return ws

    def forward(self, x, out, ctx):
        conv, ws = self.conv, ctx.ws
        ctx.k.conv2d_relu_maxpool_forward(out, ws['which'], ws['scratch'], ws['col'], x, conv.kernel.value,
                                          conv.bias.value if conv.use_bias else None, conv.windows[1])

    def backward(self, x, out, dout, dx, ctx):
        conv, ws, trains = self.conv, ctx.ws, self.conv.trainable
        ctx.k.conv2d_relu_maxpool_backward(dx, conv.kernel.grad if trains else None,
                                           conv.bias.grad if trains and conv.use_bias else None, ws.get('weight_t'),
                                           ws['weight_parts'], ws['bias_parts'], ws['scratch'], ws['col'], dout,
                                           ws['which'], x, conv.kernel.value, conv.windows[1])


class Conv1D(_Conv):
    """1-D convolution over (batch, length, channels), kernel (k, C, filters); padding 'valid', 'same' or
    'causal' (pads only the start, so no output sees a later input)."""
    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding='valid', data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, **kwargs)
