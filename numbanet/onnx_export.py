"""Export a model to ONNX (opset 17 or later) with the onnx package, for inference elsewhere.

Each layer maps to standard operators: Dense to Gemm, activations to their ONNX operators (GELU and SiLU as
the formulas they are), Add to Sum, Concatenate to Concat on the last axis, Flatten and Reshape to themselves,
Dropout to Identity, Rescaling to Mul and Add, BatchNormalization to its inference form (one Mul and one Add
per channel), LayerNormalization to LayerNormalization. The batch dimension stays symbolic.

Convolutions and pools: Conv1D and Conv2D to Conv (kernel (out, in, k...), the bias its third input,
explicit pads by Keras's rule: the odd cell after, 'causal' all before), MaxPooling to MaxPool (padding
never wins), AveragePooling to AveragePool with count_include_pad=0 (padding is not counted, as in Keras),
GlobalAverage/MaxPooling to GlobalAveragePool/GlobalMaxPool (then Flatten unless keepdims), ZeroPadding2D
to Pad. ONNX computes these channels-first (N, C, ...) where numbanet holds its tensors channels-last
(N, ..., C); the graph keeps numbanet's layout at its inputs and output and transposes only where a layer
needs the other layout, so a chain of convolutions, pools, activations and batch normalizations stays
channels-first, and a Flatten sees the channels-last order its Dense was trained on.
"""
import math

import numpy as np

from numbanet.backend import to_numpy
from numbanet.files import write_atomic
from numbanet.layers import (Activation, Add, AveragePooling1D, AveragePooling2D, BatchNormalization, Concatenate,
                             Conv1D, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D,
                             GlobalMaxPooling1D, GlobalMaxPooling2D, InputLayer, LayerNormalization, MaxPooling1D,
                             MaxPooling2D, Rescaling, Reshape, ZeroPadding2D)
from numbanet.layers.windows import window_pads

_SELU = {'alpha': 1.6732632423543772, 'gamma': 1.0507009873554805}
_POOLS = (AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D)
_GLOBAL_POOLS = (GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D)
_MAX = (MaxPooling1D, MaxPooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D)
# Computed channels-first, as ONNX's operators for them take images.
_CHANNELS_FIRST = (Conv1D, Conv2D, ZeroPadding2D) + _POOLS + _GLOBAL_POOLS
# The same on either layout given the channel axis: computed in whichever their input is held in.
_EITHER = (Activation, BatchNormalization, Dropout, Rescaling)


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'numbanet[onnx]'") from None
    return onnx


class _Builder:
    """The ONNX nodes and initializers of one graph, with unique value names."""

    def __init__(self, helper, numpy_helper, input_names):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []
        # Every value name in the graph, and whether it is an initializer: a layer used at two places of the
        # graph names its outputs and constants alike each time, and an input may be named like either.
        self.names = dict.fromkeys(input_names, False)

    def _unique(self, name):
        base, n = name, 1
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        return name

    def node(self, op, inputs, name, **attrs):
        name = self._unique(name)
        self.names[name] = False
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def constant(self, name, values):
        if self.names.get(name):  # a shared layer's weights, already there: the same values
            return name
        name = self._unique(name)
        self.names[name] = True
        self.initializers.append(self.numpy_helper.from_array(np.asarray(values), name))
        return name

    def activation(self, act, x, name, axis=-1):
        """act on x, whose channels are on `axis` (softmax's axis)."""
        if act.identity:
            return x
        n = f'{name}/{act.name}'
        simple = {'relu': 'Relu', 'sigmoid': 'Sigmoid', 'tanh': 'Tanh', 'softplus': 'Softplus',
                  'softsign': 'Softsign', 'exponential': 'Exp'}
        if act.name in simple:
            return self.node(simple[act.name], [x], n)
        if act.name == 'softmax':
            return self.node('Softmax', [x], n, axis=axis)
        if act.name == 'leaky_relu':
            return self.node('LeakyRelu', [x], n, alpha=act.negative_slope)
        if act.name == 'elu':
            return self.node('Elu', [x], n, alpha=act.alpha)
        if act.name == 'selu':
            return self.node('Selu', [x], n, **_SELU)
        if act.name == 'hard_sigmoid':
            return self.node('HardSigmoid', [x], n, alpha=1 / 6, beta=0.5)
        if act.name == 'silu':
            return self.node('Mul', [x, self.node('Sigmoid', [x], f'{n}/sigmoid')], n)
        if act.name == 'gelu':
            return self._gelu(x, n, act.approximate)
        raise NotImplementedError(f"no ONNX mapping for activation {act.name!r}")

    def _gelu(self, x, n, approximate):
        c = lambda suffix, v: self.constant(f'{n}/{suffix}', np.float32(v))  # noqa: E731
        if approximate:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            cube = self.node('Mul', [self.node('Mul', [x, x], f'{n}/x2'), x], f'{n}/x3')
            inner = self.node('Add', [x, self.node('Mul', [cube, c('k', 0.044715)], f'{n}/kx3')], f'{n}/inner')
            t = self.node('Tanh', [self.node('Mul', [inner, c('s', math.sqrt(2 / math.pi))], f'{n}/scaled')],
                          f'{n}/tanh')
        else:  # 0.5 x (1 + erf(x / sqrt 2))
            t = self.node('Erf', [self.node('Mul', [x, c('s', 1 / math.sqrt(2))], f'{n}/scaled')], f'{n}/erf')
        half_x = self.node('Mul', [x, c('half', 0.5)], f'{n}/half_x')
        return self.node('Mul', [half_x, self.node('Add', [t, c('one', 1.0)], f'{n}/one_plus')], n)


def _pads(layer, sizes, spans):
    """ONNX's pads (each axis's padding before, then each axis's after) for the layer's windows spanning
    `spans` cells over an input of `sizes`: the padding before and the output size from Keras's rule
    (layers/windows.window_pads), and after it what the last window needs beyond the input."""
    pads = [window_pads(layer, size, span, stride, layer.padding)
            for size, span, stride in zip(sizes, spans, layer.strides)]
    return [before for before, _ in pads] + [after for _, after in pads]


def _channels_first(b, layer, x, shape):
    """The ONNX value name of a convolution, pool or padding layer's output, channels-first (N, C, ...) as
    x is; shape is the layer's channels-last input shape (..., C), without the batch."""
    name, sizes = layer.name, shape[:-1]
    if isinstance(layer, (Conv1D, Conv2D)):
        n = layer.rank
        kernel = to_numpy(layer.kernel.value).transpose((n + 1, n) + tuple(range(n)))  # (out, in, k...)
        weights = [b.constant(f'{name}/kernel', np.ascontiguousarray(kernel))]
        if layer.use_bias:
            weights.append(b.constant(f'{name}/bias', to_numpy(layer.bias.value)))
        spans = [d * (k - 1) + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
        out = b.node('Conv', [x] + weights, f'{name}/conv', kernel_shape=list(layer.kernel_size),
                     strides=list(layer.strides), dilations=list(layer.dilation_rate),
                     pads=_pads(layer, sizes, spans))
        return b.activation(layer.activation, out, name, axis=1)
    if isinstance(layer, _POOLS):
        attrs = {} if isinstance(layer, _MAX) else {'count_include_pad': 0}  # Keras averages the inputs only
        return b.node('MaxPool' if isinstance(layer, _MAX) else 'AveragePool', [x], f'{name}/pool',
                      kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                      pads=_pads(layer, sizes, layer.pool_size), **attrs)
    if isinstance(layer, _GLOBAL_POOLS):
        out = b.node('GlobalMaxPool' if isinstance(layer, _MAX) else 'GlobalAveragePool', [x], f'{name}/pool')
        return out if layer.keepdims else b.node('Flatten', [out], f'{name}/flatten', axis=1)  # (N, C, 1...)
    (top, bottom), (left, right) = layer.padding  # ZeroPadding2D
    pads = b.constant(f'{name}/pads', np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))
    return b.node('Pad', [x, pads], f'{name}/pad', mode='constant')


class _Layouts:
    """Each tensor's ONNX value, held channels-last as numbanet holds it or channels-first as ONNX's
    convolutions take it; a Transpose makes the other form, once, where a layer asks for it. A tensor of
    rank 2 (batch, features) is both."""

    def __init__(self, b, graph):
        self.b, self.graph, self.values = b, graph, {}

    def put(self, i, name, first):
        rank = len(self.graph.tensors[i].shape)
        self.values[i] = {True: name, False: name} if rank <= 2 else {first: name}

    def held_first(self, i):
        return False not in self.values[i]

    def get(self, i, first):
        """Tensor i's value, channels-first when `first`."""
        held = self.values[i]
        if first not in held:
            rank = len(self.graph.tensors[i].shape)
            perm = [0, rank - 1, *range(1, rank - 1)] if first else [0, *range(2, rank), 1]
            source = held[not first]
            held[first] = self.b.node('Transpose', [source], f"{source}/{'nchw' if first else 'nhwc'}", perm=perm)
        return held[first]


def _layer(b, layer, ins, first):
    """The ONNX value name of the layer's output, adding its nodes to b; the inputs are channels-first
    when `first` (only for the layers in _EITHER)."""
    name = layer.name
    if isinstance(layer, Dense):
        kernel = b.constant(f'{name}/kernel', to_numpy(layer.kernel.value))
        bias = [b.constant(f'{name}/bias', to_numpy(layer.bias.value))] if layer.use_bias else []
        out = b.node('Gemm', [ins[0], kernel] + bias, f'{name}/gemm')
        return b.activation(layer.activation, out, name)
    if isinstance(layer, Activation):
        if layer.activation.identity:
            return b.node('Identity', ins, f'{name}/identity')
        return b.activation(layer.activation, ins[0], name, axis=1 if first else -1)
    if isinstance(layer, Add):
        return b.node('Sum', ins, f'{name}/sum')
    if isinstance(layer, Concatenate):
        return b.node('Concat', ins, f'{name}/concat', axis=-1)
    if isinstance(layer, Dropout):
        return b.node('Identity', ins, f'{name}/identity')
    if isinstance(layer, Rescaling):  # the factors float32, as the kernel rounds them
        scale, offset = (b.constant(f'{name}/{w}', np.float32(getattr(layer, w))) for w in ('scale', 'offset'))
        return b.node('Add', [b.node('Mul', [ins[0], scale], f'{name}/scaled'), offset], f'{name}/shifted')
    if isinstance(layer, Flatten):
        return b.node('Flatten', ins, f'{name}/flatten', axis=1)
    if isinstance(layer, Reshape):
        shape = b.constant(f'{name}/shape', np.array((0,) + layer.target_shape, np.int64))  # 0: keep the batch
        return b.node('Reshape', [ins[0], shape], f'{name}/reshape')
    if isinstance(layer, BatchNormalization):
        # Inference: y = x * scale + shift per channel, whatever the rank (ONNX's BatchNormalization
        # wants channels on axis 1 and is not worth two transposes where they are last).
        channels = layer.built_input_shape[-1]
        gamma = to_numpy(layer.gamma.value) if layer.scale else np.ones(channels, np.float32)
        beta = to_numpy(layer.beta.value) if layer.center else np.zeros(channels, np.float32)
        scale = gamma / np.sqrt(to_numpy(layer.moving_variance.value).astype(np.float64) + layer.epsilon)
        shift = beta - to_numpy(layer.moving_mean.value) * scale
        shape = (-1,) + (1,) * (len(layer.built_input_shape) - 1) if first else (-1,)  # broadcast over (C, H, W)
        scale, shift = (b.constant(f'{name}/{what}', v.astype(np.float32).reshape(shape))
                        for what, v in (('scale', scale), ('shift', shift)))
        return b.node('Add', [b.node('Mul', [ins[0], scale], f'{name}/scaled'), shift], f'{name}/shifted')
    if isinstance(layer, LayerNormalization):
        channels = layer.built_input_shape[-1]
        gamma = to_numpy(layer.gamma.value) if layer.scale else np.ones(channels, np.float32)
        beta = to_numpy(layer.beta.value) if layer.center else np.zeros(channels, np.float32)
        return b.node('LayerNormalization', [ins[0], b.constant(f'{name}/gamma', gamma),
                                             b.constant(f'{name}/beta', beta)], f'{name}/norm', axis=-1,
                      epsilon=layer.epsilon)
    raise NotImplementedError(f"no ONNX mapping for layer '{layer.name}' ({type(layer).__name__})")


def build(model, opset=17):
    onnx = _require_onnx()
    from onnx import TensorProto, helper, numpy_helper
    if opset < 17:
        raise ValueError(f"opset must be 17 or later, got {opset}")
    graph = model.graph
    int8 = [layer.name for layer in graph.layers if any(w.dtype == np.int8 for w in layer.weights_list)]
    if int8:  # an int8 kernel would need QLinear operators, and their rounding differs from ours
        raise NotImplementedError(f"layers {int8} are quantized (int8), which the ONNX export does not cover; "
                                  f"export the float model, before model.quantize()")
    b = _Builder(helper, numpy_helper, [graph.nodes[j].layer.name for j in graph.input_ids])
    values = _Layouts(b, graph)
    inputs = {}
    for i, node in enumerate(graph.nodes):
        layer, ids = node.layer, graph.in_ids[i]
        if isinstance(layer, InputLayer):
            values.put(i, layer.name, first=False)
            inputs[i] = helper.make_tensor_value_info(layer.name, TensorProto.FLOAT, ['batch', *layer.shape])
        elif isinstance(layer, _CHANNELS_FIRST):
            values.put(i, _channels_first(b, layer, values.get(ids[0], True), graph.tensors[ids[0]].shape[1:]), True)
        else:
            first = isinstance(layer, _EITHER) and values.held_first(ids[0])
            values.put(i, _layer(b, layer, [values.get(j, first) for j in ids], first), first)
    outputs = []  # one output is 'output' ('output_1' if an input is 'output'); several, their layers' names
    for j, t, name in zip(graph.output_ids, graph.outputs, graph.output_names if len(graph.outputs) > 1 else ['output']):
        out = b.node('Identity', [values.get(j, False)], name)
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ['batch', *t.shape[1:]]))
    onnx_graph = helper.make_graph(b.nodes, model.name, [inputs[j] for j in graph.input_ids], outputs,
                                   b.initializers)
    proto = helper.make_model(onnx_graph, producer_name='numbanet', opset_imports=[helper.make_opsetid('', opset)])
    proto.ir_version = min(proto.ir_version, 9)  # readable by onnxruntime releases of the last two years
    onnx.checker.check_model(proto)
    return proto


def export(model, path, opset=17):
    write_atomic(path, build(model, opset).SerializeToString())
