"""Export a model to ONNX (opset 17 or later) with the onnx package, for inference elsewhere.

Each layer maps to standard operators: Dense to Gemm (a MatMul over the last axis for higher ranks),
activations to their ONNX operators (GELU and SiLU as the formulas they are), Add to Sum, Concatenate to
Concat on the last axis, Flatten and Reshape to themselves, Dropout to Identity, BatchNormalization to its
inference form (one Mul and one Add on the last axis), LayerNormalization to LayerNormalization. The batch
dimension stays symbolic.
"""
import math

import numpy as np

from numbanet.backend import to_numpy
from numbanet.files import write_atomic
from numbanet.layers import (Activation, Add, BatchNormalization, Concatenate, Dense, Dropout, Flatten, InputLayer,
                             LayerNormalization, Reshape)

_SELU = {'alpha': 1.6732632423543772, 'gamma': 1.0507009873554805}


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'numbanet[onnx]'") from None
    return onnx


class _Builder:
    """The ONNX nodes and initializers of one graph, with unique value names."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def constant(self, name, values):
        self.initializers.append(self.numpy_helper.from_array(np.asarray(values), name))
        return name

    def activation(self, act, x, name):
        if act.identity:
            return x
        n = f'{name}/{act.name}'
        simple = {'relu': 'Relu', 'sigmoid': 'Sigmoid', 'tanh': 'Tanh', 'softplus': 'Softplus',
                  'softsign': 'Softsign', 'exponential': 'Exp'}
        if act.name in simple:
            return self.node(simple[act.name], [x], n)
        if act.name == 'softmax':
            return self.node('Softmax', [x], n, axis=-1)
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


def _layer(b, layer, ins):
    """The ONNX value name of the layer's output, adding its nodes to b."""
    name = layer.name
    if isinstance(layer, Dense):
        kernel = b.constant(f'{name}/kernel', to_numpy(layer.kernel.value))
        bias = [b.constant(f'{name}/bias', to_numpy(layer.bias.value))] if layer.use_bias else []
        out = b.node('Gemm', [ins[0], kernel] + bias, f'{name}/gemm')
        return b.activation(layer.activation, out, name)
    if isinstance(layer, Activation):
        if layer.activation.identity:
            return b.node('Identity', ins, f'{name}/identity')
        return b.activation(layer.activation, ins[0], name)
    if isinstance(layer, Add):
        return b.node('Sum', ins, f'{name}/sum')
    if isinstance(layer, Concatenate):
        return b.node('Concat', ins, f'{name}/concat', axis=-1)
    if isinstance(layer, Dropout):
        return b.node('Identity', ins, f'{name}/identity')
    if isinstance(layer, Flatten):
        return b.node('Flatten', ins, f'{name}/flatten', axis=1)
    if isinstance(layer, Reshape):
        shape = b.constant(f'{name}/shape', np.array((0,) + layer.target_shape, np.int64))  # 0: keep the batch
        return b.node('Reshape', [ins[0], shape], f'{name}/reshape')
    if isinstance(layer, BatchNormalization):
        # Inference: y = x * scale + shift on the last axis, whatever the rank (ONNX's BatchNormalization
        # wants channels on axis 1).
        channels = layer.built_input_shape[-1]
        gamma = to_numpy(layer.gamma.value) if layer.scale else np.ones(channels, np.float32)
        beta = to_numpy(layer.beta.value) if layer.center else np.zeros(channels, np.float32)
        scale = gamma / np.sqrt(to_numpy(layer.moving_variance.value).astype(np.float64) + layer.epsilon)
        shift = beta - to_numpy(layer.moving_mean.value) * scale
        scaled = b.node('Mul', [ins[0], b.constant(f'{name}/scale', scale.astype(np.float32))], f'{name}/scaled')
        return b.node('Add', [scaled, b.constant(f'{name}/shift', shift.astype(np.float32))], f'{name}/shifted')
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
    b = _Builder(helper, numpy_helper)
    names = {}  # tensor id -> ONNX value name
    inputs = {}
    for i, node in enumerate(graph.nodes):
        layer = node.layer
        if isinstance(layer, InputLayer):
            names[i] = layer.name
            inputs[i] = helper.make_tensor_value_info(layer.name, TensorProto.FLOAT, ['batch', *layer.shape])
        else:
            names[i] = _layer(b, layer, [names[j] for j in graph.in_ids[i]])
    b.node('Identity', [names[graph.output_id]], 'output')
    outputs = [helper.make_tensor_value_info('output', TensorProto.FLOAT, ['batch', *graph.output.shape[1:]])]
    onnx_graph = helper.make_graph(b.nodes, model.name, [inputs[j] for j in graph.input_ids], outputs,
                                   b.initializers)
    proto = helper.make_model(onnx_graph, producer_name='numbanet', opset_imports=[helper.make_opsetid('', opset)])
    proto.ir_version = min(proto.ir_version, 9)  # readable by onnxruntime releases of the last two years
    onnx.checker.check_model(proto)
    return proto


def export(model, path, opset=17):
    write_atomic(path, build(model, opset).SerializeToString())
