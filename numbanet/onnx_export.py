"""Export a model to ONNX (opset 17 or later) with the onnx package, for inference elsewhere.

Each layer maps to standard operators: Dense to Gemm (then Relu or Softmax), ReLU and Softmax to
themselves, Add to Sum, Concatenate to Concat on the last axis. The batch dimension stays symbolic.
"""
from numbanet.backend import to_numpy
from numbanet.files import write_atomic
from numbanet.layers import Activation, Add, Concatenate, Dense, InputLayer


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'numbanet[onnx]'") from None
    return onnx


def build(model, opset=17):
    onnx = _require_onnx()
    from onnx import TensorProto, helper, numpy_helper
    if opset < 17:
        raise ValueError(f"opset must be 17 or later, got {opset}")
    graph = model.graph
    nodes, initializers, inputs = [], [], []
    names = {}  # tensor id -> ONNX value name

    def activation(act, source, name):
        if act.identity:
            return source
        out = f'{name}/{act.name}'
        if act.name == 'relu':
            nodes.append(helper.make_node('Relu', [source], [out], name=out))
        else:
            nodes.append(helper.make_node('Softmax', [source], [out], name=out, axis=-1))
        return out

    for i, node in enumerate(graph.nodes):
        layer = node.layer
        ins = [names[j] for j in graph.in_ids[i]]
        if isinstance(layer, InputLayer):
            names[i] = layer.name
            inputs.append(helper.make_tensor_value_info(layer.name, TensorProto.FLOAT, ['batch', *layer.shape]))
        elif isinstance(layer, Dense):
            kernel = f'{layer.name}/kernel'
            initializers.append(numpy_helper.from_array(to_numpy(layer.kernel.value), kernel))
            gemm_inputs = [ins[0], kernel]
            if layer.use_bias:
                initializers.append(numpy_helper.from_array(to_numpy(layer.bias.value), f'{layer.name}/bias'))
                gemm_inputs.append(f'{layer.name}/bias')
            out = f'{layer.name}/gemm'
            nodes.append(helper.make_node('Gemm', gemm_inputs, [out], name=out))
            names[i] = activation(layer.activation, out, layer.name)
        elif isinstance(layer, Activation):
            if layer.activation.identity:
                out = f'{layer.name}/identity'
                nodes.append(helper.make_node('Identity', ins, [out], name=out))
                names[i] = out
            else:
                names[i] = activation(layer.activation, ins[0], layer.name)
        elif isinstance(layer, Add):
            names[i] = f'{layer.name}/sum'
            nodes.append(helper.make_node('Sum', ins, [names[i]], name=names[i]))
        elif isinstance(layer, Concatenate):
            names[i] = f'{layer.name}/concat'
            nodes.append(helper.make_node('Concat', ins, [names[i]], name=names[i], axis=-1))
        else:
            raise NotImplementedError(f"no ONNX mapping for layer '{layer.name}' ({type(layer).__name__})")
    output_name = 'output'
    nodes.append(helper.make_node('Identity', [names[graph.output_id]], [output_name], name='output'))
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ['batch', *graph.output.shape[1:]])]
    # inputs were appended in graph order; the model's input order is graph.input_ids
    order = [names[j] for j in graph.input_ids]
    inputs.sort(key=lambda info: order.index(info.name))
    onnx_graph = helper.make_graph(nodes, model.name, inputs, outputs, initializers)
    proto = helper.make_model(onnx_graph, producer_name='numbanet',
                              opset_imports=[helper.make_opsetid('', opset)])
    proto.ir_version = min(proto.ir_version, 9)  # readable by onnxruntime releases of the last two years
    onnx.checker.check_model(proto)
    return proto


def export(model, path, opset=17):
    write_atomic(path, build(model, opset).SerializeToString())
