"""int8 inference: the layers quantize('int8') puts in place of each Dense (Int8Dense), Conv2D (Int8Conv2D)
and Conv1D (Int8Conv1D).

An int8 layer holds its kernel as int8 with one symmetric scale per output column (per filter for a
convolution). Each batch's input is quantized to 8 bits too, per row, or with one scale per layer measured
on calibration data, and the product runs in our int8 x int8 -> int32 kernels (kernels/cpu/int8_dense.py)
before being scaled back to float32. A convolution is that same product over its receptive fields: im2col
copies each into one row (kernels/cpu/conv2d.py), so "per row" means one scale per receptive field. The
layers are for inference: they have no backward, and a model holding one refuses fit.
"""
import numpy as np

from numbanet import activations
from numbanet.backend import rows, to_numpy
from numbanet.checks import is_number, positive_int
from numbanet.layers.base import Layer, require_vector
from numbanet.layers.convolutional import Conv1D, Conv2D
from numbanet.layers.core import Dense


class _Int8Product(Layer):
    """What the int8 layers share: the input scale, an int8 kernel whose last axis is the output, packed
    once for the kernels, and the quantized product out (rows, units) = x (rows, depth) @ kernel."""
    quantized = 'int8'

    def __init__(self, input_scale=None, **kwargs):
        kwargs['trainable'] = False
        super().__init__(**kwargs)
        if input_scale is not None and (not is_number(input_scale)
                                        or not 1e-30 < input_scale < 1e30):
            raise ValueError(f"input_scale must be a positive number (one step of the 8-bit input) or None, "
                             f"got {input_scale!r}")
        self.input_scale = None if input_scale is None else float(input_scale)
        self._packed = None  # (key, packed kernel, column sums), made from the kernel when first needed

    def add_int8_weights(self, kernel_shape, use_bias):
        units = kernel_shape[-1]
        self.kernel = self.add_weight('kernel', kernel_shape, 'zeros', trainable=False, dtype='int8')
        self.bias = self.add_weight('bias', (units,), 'zeros', trainable=False) if use_bias else None
        self.kernel_scale = self.add_weight('kernel_scale', (units,), 'ones', trainable=False)
        self.kernel_scale.check = _scales_in_range

    def set_float_weights(self, kernel, bias):
        """Take over a float layer's kernel (rounded to int8 per output column) and bias (host arrays)."""
        q, scale = quantize_kernel(kernel.reshape(-1, kernel.shape[-1]))
        self.kernel.value, self.kernel_scale.value = q.reshape(kernel.shape), scale  # a model's store takes these over
        if bias is not None:
            self.bias.value = bias

    def product_workspace(self, n_rows):
        # The input quantized to unsigned bytes (depth padded to a multiple of 4), and one scale per row.
        depth = self.kernel.size // self.kernel.shape[-1]
        return {'x_q': ((n_rows, (depth + 3) // 4 * 4), np.uint8), 'x_scale': ((n_rows,), np.float32)}

    def product(self, out, x, ctx):
        k, ws = ctx.k, ctx.ws
        if self.input_scale is None:
            k.quantize_rows(ws['x_q'], ws['x_scale'], x)
        else:
            k.quantize_static(ws['x_q'], ws['x_scale'], x, self.input_scale)
        key = (id(self.kernel.value), self.kernel.version)
        if self._packed is None or self._packed[0] != key:
            # Once per kernel value: packed again only when it is set, loaded or moved to another device.
            units = self.kernel.shape[-1]
            self._packed = (key, *k.pack_int8_weights(self.kernel.value.reshape(self.kernel.size // units, units)))
        _, packed, colsum = self._packed
        k.int8_dense_forward(out, ws['x_q'], ws['x_scale'], packed, colsum, self.kernel_scale.value,
                             self.bias.value if self.bias is not None else None)

    def backward(self, x, out, dout, dx, ctx):
        raise RuntimeError(f"layer '{self.name}' is int8, for inference only")


class Int8Dense(_Int8Product):
    """Dense in int8: what quantize('int8') puts in place of each Dense."""

    def __init__(self, units, activation=None, use_bias=True, input_scale=None, **kwargs):
        super().__init__(input_scale, **kwargs)
        self.units = positive_int(units, 'units')
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        require_vector(self, input_shape)
        self.add_int8_weights((input_shape[0], self.units), self.use_bias)

    @classmethod
    def from_dense(cls, dense, input_scale=None):
        """An Int8Dense computing what `dense` computes, its kernel rounded to int8 per output column."""
        layer = cls(dense.units, dense.activation, dense.use_bias, input_scale, name=dense.name)
        layer.ensure_built(dense.built_input_shape)
        layer.set_float_weights(to_numpy(dense.kernel.value), to_numpy(dense.bias.value) if dense.use_bias else None)
        return layer

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def workspace(self, batch, training):
        return self.product_workspace(batch)

    def forward(self, x, out, ctx):
        self.product(out, x, ctx)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      input_scale=self.input_scale)
        return config

    def extra_repr(self):
        return f"units={self.units}, activation={self.activation.name}, int8"


class _Int8Conv(_Int8Product):
    """The int8 twin of a float convolution (float_class): the same arguments and windows, kernel
    (kh, kw, in, filters) or (k, in, filters) as int8 with one scale per filter."""
    float_class = None

    def __init__(self, filters, kernel_size, strides=1, padding='valid', dilation_rate=1, activation=None,
                 use_bias=True, input_scale=None, **kwargs):
        super().__init__(input_scale, **kwargs)
        # The float layer this one computes, never built: it checks the arguments as the float layer does
        # and says where the windows land (its geometry).
        self._conv = self.float_class(filters, kernel_size, strides, padding, dilation_rate=dilation_rate,
                                      activation=activation, use_bias=use_bias, name=self.name)
        conv = self._conv
        self.filters, self.kernel_size, self.strides, self.padding = (conv.filters, conv.kernel_size, conv.strides,
                                                                      conv.padding)
        self.dilation_rate, self.activation, self.use_bias = conv.dilation_rate, conv.activation, conv.use_bias

    @classmethod
    def from_conv(cls, conv, input_scale=None):
        """The int8 layer computing what the float `conv` computes, each filter rounded to int8."""
        layer = cls(conv.filters, conv.kernel_size, conv.strides, conv.padding, conv.dilation_rate, conv.activation,
                    conv.use_bias, input_scale, name=conv.name)
        layer.ensure_built(conv.built_input_shape)
        layer.set_float_weights(to_numpy(conv.kernel.value), to_numpy(conv.bias.value) if conv.use_bias else None)
        return layer

    def build(self, input_shape):
        self._conv.compute_output_shape(input_shape)  # refuse a wrong rank or a window that does not fit
        self.add_int8_weights(self.kernel_size + (input_shape[-1], self.filters), self.use_bias)

    def compute_output_shape(self, input_shape):
        return self._conv.compute_output_shape(input_shape)

    def workspace(self, batch, training):
        # col: every receptive field as a row (as the float layer's), then quantized for the product.
        (Ho, Wo), _ = self._conv.geometry(self.built_input_shape)
        depth = int(np.prod(self.kernel_size)) * self.built_input_shape[-1]
        return {'col': (batch * Ho * Wo, depth), **self.product_workspace(batch * Ho * Wo)}

    def forward(self, x, out, ctx):
        (Ho, Wo), geometry = self._conv.geometry(self.built_input_shape)
        KH, KW = (1,) * (2 - len(self.kernel_size)) + self.kernel_size
        image = x if len(x.shape) == 4 else x.reshape((x.shape[0], 1) + tuple(x.shape[1:]))  # Conv1D: height 1
        ctx.k.im2col(ctx.ws['col'], image, KH, KW, Ho, Wo, geometry)
        self.product(rows(out), ctx.ws['col'], ctx)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding, dilation_rate=list(self.dilation_rate),
                      activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      input_scale=self.input_scale)
        return config

    def extra_repr(self):
        return f"{self._conv.extra_repr()}, int8"


class Int8Conv2D(_Int8Conv):
    """Conv2D in int8: what quantize('int8') puts in place of each Conv2D."""
    float_class = Conv2D


class Int8Conv1D(_Int8Conv):
    """Conv1D in int8: what quantize('int8') puts in place of each Conv1D."""
    float_class = Conv1D


# The int8 layer made from each float one, and how.
INT8_OF = {Dense: Int8Dense.from_dense, Conv2D: Int8Conv2D.from_conv, Conv1D: Int8Conv1D.from_conv}
INT8_LAYERS = (Int8Dense, Int8Conv2D, Int8Conv1D)


def _scales_in_range(name, scales):
    # A scale maps the int8 step back to the kernel's units: zero, negative or astronomically large ones come
    # only from a damaged or crafted file, and overflow to Inf in the product.
    if scales.size and not (scales > 0).all() or (scales >= 1e30).any():
        raise ValueError(f"weight '{name}' holds an int8 kernel's scales: each must be in (0, 1e30), got values from "
                         f"{scales.min():g} to {scales.max():g}")


def quantize_kernel(kernel):
    """(int8 values, float32 scale per column): symmetric, so each column's largest magnitude maps to 127."""
    scale = np.abs(kernel).max(axis=0) / 127.0
    scale[scale == 0] = 1.0  # an all-zero column (a pruned unit) stays zero
    q = np.clip(np.rint(kernel / scale), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def int8_replacements(model, calibration=None, batch_size=256):
    """{id(layer): int8 layer} for every Dense, Conv2D and Conv1D of the model. With calibration data (a
    list of input arrays), each gets one input scale: the largest |input| it saw in a float forward pass,
    over 127."""
    graph = model.graph
    found = [layer for layer in graph.layers if isinstance(layer, tuple(INT8_OF))]
    subclasses = [layer.name for layer in found if type(layer) not in INT8_OF]
    if subclasses:  # an int8 layer would compute what Dense or the convolution computes, not what the subclass does
        raise ValueError(f"quantize('int8') knows Dense, Conv2D and Conv1D only; the layers {subclasses} are "
                         f"subclasses of them")
    if not found:
        raise ValueError(f"model '{model.name}' has no Dense layer or convolution to quantize")
    scales = {}
    if calibration is not None:
        reads = [(id(node.layer), graph.in_ids[i][0]) for i, node in enumerate(graph.nodes)
                 if type(node.layer) in INT8_OF]
        maxima = {key: 0.0 for key, _ in reads}
        for _, _, plan in model.batch_plans(calibration, batch_size):
            plan.forward(training=False)
            for key, j in reads:
                maxima[key] = max(maxima[key], float(np.abs(to_numpy(plan.values[j])).max()))
        scales = {key: (m / 127.0 if m > 0 else 1.0) for key, m in maxima.items()}
    return {id(layer): INT8_OF[type(layer)](layer, scales.get(id(layer))) for layer in found}
