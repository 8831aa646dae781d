"""int8 inference: Int8Dense, the layer quantize('int8') puts in place of each Dense.

An Int8Dense holds its kernel as int8 with one symmetric scale per output column. Each batch's input is
quantized to 8 bits too, per row, or with one scale per layer measured on calibration data, and the
product runs in our int8 x int8 -> int32 kernels (kernels/cpu/int8_dense.py) before being scaled back to
float32. It is for inference: it has no backward, and a model holding one refuses fit.
"""
import numpy as np

from numbanet import activations
from numbanet.backend import to_numpy
from numbanet.checks import is_number, positive_int
from numbanet.layers.base import Layer, require_vector
from numbanet.layers.core import Dense


class Int8Dense(Layer):
    quantized = 'int8'

    def __init__(self, units, activation=None, use_bias=True, input_scale=None, **kwargs):
        kwargs['trainable'] = False
        super().__init__(**kwargs)
        self.units = positive_int(units, 'units')
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        if input_scale is not None and (not is_number(input_scale)
                                        or not 1e-30 < input_scale < 1e30):
            raise ValueError(f"input_scale must be a positive number (one step of the 8-bit input) or None, "
                             f"got {input_scale!r}")
        self.input_scale = None if input_scale is None else float(input_scale)
        self._packed = None  # (key, packed kernel, column sums), made from the kernel when first needed

    def build(self, input_shape):
        require_vector(self, input_shape)
        self.kernel = self.add_weight('kernel', (input_shape[0], self.units), 'zeros', trainable=False, dtype='int8')
        self.bias = self.add_weight('bias', (self.units,), 'zeros', trainable=False) if self.use_bias else None
        self.kernel_scale = self.add_weight('kernel_scale', (self.units,), 'ones', trainable=False)

    @classmethod
    def from_dense(cls, dense, input_scale=None):
        """An Int8Dense computing what `dense` computes, its kernel rounded to int8 per output column."""
        layer = cls(dense.units, dense.activation, dense.use_bias, input_scale, name=dense.name)
        layer.ensure_built(dense.built_input_shape)
        q, scale = quantize_kernel(to_numpy(dense.kernel.value))
        layer.kernel.value, layer.kernel_scale.value = q, scale  # a model's store takes these over
        if dense.use_bias:
            layer.bias.value = to_numpy(dense.bias.value)
        return layer

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def workspace(self, batch, training):
        # The input quantized to unsigned bytes (k padded to a multiple of 4), and one scale per row.
        return {'x_q': ((batch, (self.kernel.shape[0] + 3) // 4 * 4), np.uint8), 'x_scale': ((batch,), np.float32)}

    def forward(self, x, out, ctx):
        k, ws = ctx.k, ctx.ws
        if self.input_scale is None:
            k.quantize_rows(ws['x_q'], ws['x_scale'], x)
        else:
            k.quantize_static(ws['x_q'], ws['x_scale'], x, self.input_scale)
        key = (id(self.kernel.value), self.kernel.version)
        if self._packed is None or self._packed[0] != key:
            # Once per kernel value: packed again only when it is set, loaded or moved to another device.
            self._packed = (key, *k.pack_int8_weights(self.kernel.value))
        _, packed, colsum = self._packed
        k.int8_dense_forward(out, ws['x_q'], ws['x_scale'], packed, colsum, self.kernel_scale.value,
                             self.bias.value if self.use_bias else None)

    def backward(self, x, out, dout, dx, ctx):
        raise RuntimeError(f"layer '{self.name}' is int8, for inference only")

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      input_scale=self.input_scale)
        return config

    def extra_repr(self):
        return f"units={self.units}, activation={self.activation.name}, int8"


def quantize_kernel(kernel):
    """(int8 values, float32 scale per column): symmetric, so each column's largest magnitude maps to 127."""
    scale = np.abs(kernel).max(axis=0) / 127.0
    scale[scale == 0] = 1.0  # an all-zero column (a pruned unit) stays zero
    q = np.clip(np.rint(kernel / scale), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def int8_replacements(model, calibration=None, batch_size=256):
    """{id(dense): Int8Dense} for every Dense of the model. With calibration data (a list of input arrays),
    each layer gets one input scale: the largest |input| it saw in a float forward pass, over 127."""
    graph = model.graph
    dense = [layer for layer in graph.layers if isinstance(layer, Dense)]
    subclasses = [layer.name for layer in dense if type(layer) is not Dense]
    if subclasses:  # an Int8Dense would compute what Dense computes, not what the subclass does
        raise ValueError(f"quantize('int8') knows Dense only; the layers {subclasses} are subclasses of it")
    if not dense:
        raise ValueError(f"model '{model.name}' has no Dense layer to quantize")
    scales = {}
    if calibration is not None:
        reads = [(id(node.layer), graph.in_ids[i][0]) for i, node in enumerate(graph.nodes)
                 if type(node.layer) is Dense]
        maxima = {key: 0.0 for key, _ in reads}
        for _, _, plan in model.batch_plans(calibration, batch_size):
            plan.forward(training=False)
            for key, j in reads:
                maxima[key] = max(maxima[key], float(np.abs(to_numpy(plan.values[j])).max()))
        scales = {key: (m / 127.0 if m > 0 else 1.0) for key, m in maxima.items()}
    return {id(layer): Int8Dense.from_dense(layer, scales.get(id(layer))) for layer in dense}
