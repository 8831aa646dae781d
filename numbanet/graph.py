"""The layer graph: symbolic tensors, the nodes that connect layers, and the order a model runs them in.

Calling a layer on a KerasTensor records a Node (which layer, which tensors in) and returns the node's
output tensor. A Graph is the list of nodes between some inputs and its outputs, in topological order;
plan.py turns it into buffers and kernel calls.
"""
import numpy as np

from numbanet import activations


class ConfigError(ValueError):
    """A config (a saved architecture or compile settings) numbanet cannot rebuild."""


class KerasTensor:
    """A symbolic tensor: the shape (batch first, None) and the node that will compute it."""

    def __init__(self, shape, node, name):
        self.shape = tuple(shape)
        self.dtype = 'float32'
        self.node = node
        self.name = name

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, name={self.name}>"


class Node:
    """One call of a layer: which tensors went in, which came out."""

    def __init__(self, layer, inputs):
        self.layer = layer
        self.inputs = list(inputs)
        self.output = None


def call_layer(layer, tensors):
    """The functional API: layer(tensor) or layer([t1, t2]) on symbolic tensors."""
    shapes = [t.shape[1:] for t in tensors]
    shape = shapes[0] if layer.single_input else shapes
    layer.ensure_built(shape)
    out_shape = layer.compute_output_shape(shape)
    try:
        out_shape = tuple(out_shape)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in out_shape):
            raise TypeError
    except TypeError:
        raise ValueError(f"layer '{layer.name}': compute_output_shape({shape}) must give a tuple of positive "
                         f"ints (the batch left out), got {out_shape!r}") from None
    node = Node(layer, tensors)
    node.output = KerasTensor((None,) + tuple(out_shape), node, f"{layer.name}/output")
    layer.inbound_nodes.append(node)
    return node.output


class OutputView:
    """One output tensor, the layer making it and its activation: what a loss checks a model by. A Graph is the
    view of its first output."""

    def __init__(self, output):
        self.output = output

    @property
    def output_layer(self):
        return self.output.node.layer

    @property
    def head(self):
        """The output layer's activation, which a loss may fold into itself; None when it is linear."""
        activation = activations.get(self.output_layer.activation)
        return None if activation.identity else activation


class Graph(OutputView):
    """The nodes between some input tensors and the output tensors, in an order that runs."""

    def __init__(self, inputs, outputs):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outputs_list = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for t in inputs + outputs_list:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs and outputs must be tensors from numbanet.layers.Input or "
                                f"from calling a layer on one, got {type(t).__name__}")
        if not outputs_list or len({id(t.node.layer) for t in outputs_list}) != len(outputs_list):
            raise ValueError("a model needs one or more outputs, each made by a different layer (its name names "
                             "the output's loss and metrics)")
        if not inputs:
            raise ValueError("a model needs at least one input tensor")
        for t in inputs:
            if t.node.inputs:
                raise ValueError(f"model input {t.name} is not an Input: pass the tensors returned by "
                                 f"numbanet.layers.Input")
        if len(set(map(id, inputs))) != len(inputs):
            raise ValueError("the same Input tensor is listed twice among the model's inputs")
        self.inputs = inputs
        self.outputs, self.output = outputs_list, outputs_list[0]
        self.output_names = [t.node.layer.name for t in outputs_list]
        self.nodes = self._order(inputs, outputs_list)
        self.tensors = [n.output for n in self.nodes]
        self.tensor_id = {id(t): i for i, t in enumerate(self.tensors)}
        self.input_ids = [self.tensor_id[id(t)] for t in inputs]
        self.output_ids = [self.tensor_id[id(t)] for t in outputs_list]
        self.output_id = self.output_ids[0]
        self.in_ids = [[self.tensor_id[id(t)] for t in n.inputs] for n in self.nodes]
        self.layers = []
        for node in self.nodes:
            if not any(node.layer is l for l in self.layers):
                self.layers.append(node.layer)
        names = [layer.name for layer in self.layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            # Saving matches weights to layers by name, so two layers may not share one.
            raise ValueError(f"layer names must be unique within a model; {duplicates} appear more than once")

    @staticmethod
    def _order(inputs, outputs):
        # Iterative depth-first post-order from the outputs: each node after the nodes it reads. on_path: the
        # nodes being expanded, each reading the next; meeting one again is a cycle (node.inputs edited by hand).
        input_nodes = {id(t.node) for t in inputs}
        order, done, on_path = [], set(), {}
        stack = [(t.node, False) for t in reversed(outputs)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                del on_path[id(node)]
                done.add(id(node))
                order.append(node)
                continue
            if id(node) in on_path:
                cycle = [n.layer.name for n in list(on_path.values())[list(on_path).index(id(node)):] + [node]]
                raise ValueError(f"the graph has a cycle: {' -> '.join(reversed(cycle))} (each feeds the next)")
            if not node.inputs and id(node) not in input_nodes:
                raise ValueError(f"graph disconnected: {node.output.name} is needed to compute the output "
                                 f"but is not among the model's inputs")
            on_path[id(node)] = node
            stack.append((node, True))
            for t in reversed(node.inputs):
                if id(t.node) not in done:
                    stack.append((t.node, False))
        for t in inputs:
            if id(t.node) not in done:
                order.insert(0, t.node)  # an unused input still takes data, as in Keras
        return order

    def output_views(self):
        """Each output as a loss checks a model (Loss.check_model), as if it were the only one."""
        return [OutputView(t) for t in self.outputs]

    def with_layers(self, replace):
        """The same graph with some layers swapped ({id(old layer): new layer}, each new one already built
        for the old one's input shape): how quantization turns Dense nodes into int8 ones."""
        made = {}
        for node in self.nodes:
            if not node.inputs:
                made[id(node.output)] = node.output
                continue
            new = Node(replace.get(id(node.layer), node.layer), [made[id(t)] for t in node.inputs])
            new.output = KerasTensor(node.output.shape, new, node.output.name)
            made[id(node.output)] = new.output
        return Graph(self.inputs, [made[id(t)] for t in self.outputs])

    def get_config(self):
        """The graph as JSON-able data: layers (class and config), the nodes calling them, inputs, output."""
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        return {
            'layers': [{'class': type(layer).__name__, 'config': layer.get_config()} for layer in self.layers],
            'nodes': [{'layer': index[id(node.layer)], 'inputs': ids} for node, ids in zip(self.nodes, self.in_ids)],
            'inputs': list(self.input_ids),
            **({'output': self.output_id} if len(self.outputs) == 1 else {'outputs': self.output_ids}),
        }


def call_from_config(config, layers):
    """The input tensors and the output tensor (a list of them for several) of Graph.get_config()'s graph, made
    by calling `layers` (the config's layers, rebuilt, in order) as its nodes say."""
    nodes, inputs, output = config['nodes'], config['inputs'], config.get('outputs', config.get('output'))
    tensors = []
    for i, node in enumerate(nodes):
        layer = layers[node['layer']]
        made = layer.inbound_nodes[0] if layer.inbound_nodes else None  # an input layer is made with its node
        if made is not None and not made.inputs:
            if node['inputs']:
                raise ConfigError(f"input layer '{layer.name}' cannot have inputs")
            tensors.append(made.output)
            continue
        if not isinstance(node['inputs'], list) or any(type(j) is not int or not 0 <= j < i for j in node['inputs']):
            raise ConfigError(f"node {i} ({layer.name}) reads tensors {node['inputs']} that come later or do not exist")
        ins = [tensors[j] for j in node['inputs']]
        tensors.append(layer(ins[0] if layer.single_input else ins))
    outputs = output if isinstance(output, list) else [output]
    if any(type(j) is not int or not 0 <= j < len(tensors) for j in list(inputs) + outputs):
        raise ConfigError(f"the model's inputs {inputs!r} or output {output!r} name no tensor")
    return [tensors[i] for i in inputs], [tensors[i] for i in outputs] if isinstance(output, list) else tensors[output]
