"""The layer graph: symbolic tensors and the nodes that connect layers, the order a model runs them in,
and the buffers one batch size needs.

A model is a list of nodes in topological order. Forward runs it front to back, backward back to front.
A Plan owns every array one batch size needs (activations, their gradients, layer scratch); it is made
once per batch size and reused, so a training step allocates nothing.
"""


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


def call_layer(layer, tensors, single):
    """The functional API: layer(tensor) or layer([t1, t2]) on symbolic tensors."""
    shapes = [t.shape[1:] for t in tensors]
    layer.ensure_built(shapes[0] if single else shapes)
    out_shape = layer.compute_output_shape(shapes[0] if single else shapes)
    node = Node(layer, tensors)
    node.output = KerasTensor((None,) + tuple(out_shape), node, f"{layer.name}/output")
    layer.inbound_nodes.append(node)
    return node.output


class Graph:
    """The nodes between some input tensors and one output tensor, in an order that runs."""

    def __init__(self, inputs, outputs):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outputs_list = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for t in inputs + outputs_list:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs and outputs must be tensors from numbanet.layers.Input or "
                                f"from calling a layer on one, got {type(t).__name__}")
        if len(outputs_list) != 1:
            raise NotImplementedError(f"numbanet models have exactly one output tensor, got "
                                      f"{len(outputs_list)}; use Concatenate to join several heads")
        if not inputs:
            raise ValueError("a model needs at least one input tensor")
        for t in inputs:
            if t.node.inputs:
                raise ValueError(f"model input {t.name} is not an Input: pass the tensors returned by "
                                 f"numbanet.layers.Input")
        if len(set(map(id, inputs))) != len(inputs):
            raise ValueError("the same Input tensor is listed twice among the model's inputs")
        self.inputs = inputs
        self.output = outputs_list[0]
        self.nodes = self._order(inputs, self.output)
        self.tensors = [n.output for n in self.nodes]
        self.tensor_id = {id(t): i for i, t in enumerate(self.tensors)}
        self.input_ids = [self.tensor_id[id(t)] for t in inputs]
        self.output_id = self.tensor_id[id(self.output)]
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
    def _order(inputs, output):
        # Iterative depth-first post-order from the output: each node after the nodes it reads.
        input_nodes = {id(t.node) for t in inputs}
        order, done, on_path = [], set(), set()
        stack = [(output.node, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                on_path.discard(id(node))
                done.add(id(node))
                order.append(node)
                continue
            if not node.inputs and id(node) not in input_nodes:
                raise ValueError(f"graph disconnected: {node.output.name} is needed to compute the output "
                                 f"but is not among the model's inputs")
            on_path.add(id(node))
            stack.append((node, True))
            for t in reversed(node.inputs):
                if id(t.node) not in done:
                    stack.append((t.node, False))
        for t in inputs:
            if id(t.node) not in done:
                order.insert(0, t.node)  # an unused input still takes data, as in Keras
        return order

    def needs_grad(self):
        """Which tensors need a gradient: those computed, directly or not, from trainable weights."""
        needs = [False] * len(self.tensors)
        for i, node in enumerate(self.nodes):
            owns = bool(node.layer.weights_list) and node.layer.trainable
            needs[i] = owns or any(needs[j] for j in self.in_ids[i])
        return needs


class Plan:
    """Every buffer one batch size needs, allocated once; forward() and backward() only run kernels."""

    def __init__(self, graph, backend, batch):
        self.graph = graph
        self.backend = backend
        self.batch = batch
        self.values = [backend.empty((batch,) + t.shape[1:]) for t in graph.tensors]
        self.inputs = [self.values[i] for i in graph.input_ids]
        self.output = self.values[graph.output_id]
        # Per-node scratch (e.g. a transposed weight), filled by layer.workspace() for this batch size.
        self.ws = [self._alloc(n.layer.workspace(batch, training=False)) for n in graph.nodes]
        self._forward_steps = []
        for i, node in enumerate(graph.nodes):
            if not node.inputs:
                continue  # Input nodes: the batch is copied straight into their buffer
            ins = [self.values[j] for j in graph.in_ids[i]]
            self._forward_steps.append((node.layer, ins, self.values[i], self.ws[i], i == graph.output_id))
        self._training = None
        self.extra = {}

    def _alloc(self, shapes):
        return {name: self._empty(spec) for name, spec in shapes.items()}

    def _empty(self, spec):
        # A workspace entry is a float32 shape, or a (shape, dtype) pair.
        if spec and isinstance(spec[0], tuple):
            return self.backend.empty(spec[0], spec[1])
        return self.backend.empty(spec)

    def scratch(self, name, shape, dtype=None):
        """A named buffer kept with the plan (e.g. loss targets), made on first use."""
        buf = self.extra.get(name)
        if buf is None:
            buf = self.backend.empty(shape) if dtype is None else self.backend.empty(shape, dtype)
            self.extra[name] = buf
        return buf

    def forward(self, k, logits=False):
        # logits=True stops the output layer before its softmax: the loss fuses softmax with itself.
        for layer, ins, out, ws, is_output in self._forward_steps:
            layer.forward(k, ins, out, ws, logits and is_output)

    def prepare_training(self):
        """Gradient buffers, made the first time this batch size trains."""
        if self._training is not None:
            return
        g, be = self.graph, self.backend
        needs = g.needs_grad()
        grads = [be.empty(v.shape) if n else None for v, n in zip(self.values, needs)]
        # A tensor read by several consumers (a skip connection) gets one buffer per extra reader;
        # they are summed into its own gradient before its producer runs backward.
        claimed = [False] * len(grads)
        claimed[g.output_id] = True  # the loss writes the output's gradient first
        extras = [[] for _ in grads]
        steps = []
        for i in reversed(range(len(g.nodes))):
            node = g.nodes[i]
            if not node.inputs or not needs[i]:
                continue
            dins = []
            for j in g.in_ids[i]:
                if grads[j] is None:
                    dins.append(None)
                elif not claimed[j]:
                    claimed[j] = True
                    dins.append(grads[j])
                else:
                    buf = be.empty(grads[j].shape)
                    extras[j].append(buf)
                    dins.append(buf)
            ins = [self.values[j] for j in g.in_ids[i]]
            for name, spec in node.layer.workspace(self.batch, training=True).items():
                if name not in self.ws[i]:
                    self.ws[i][name] = self._empty(spec)
            steps.append((node.layer, ins, self.values[i], grads[i], dins, self.ws[i], extras[i],
                          i == g.output_id))
        self.grads = grads
        self.grad_output = grads[g.output_id]
        self._backward_steps = steps
        self._training = True

    def backward(self, k, logits=False):
        for layer, ins, out, dout, dins, ws, extra, is_output in self._backward_steps:
            for buf in extra:
                k.add_forward(dout, dout, buf)
            layer.backward(k, ins, out, dout, dins, ws, logits and is_output)
