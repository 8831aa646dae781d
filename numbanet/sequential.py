"""Sequential: a stack of single-input layers, built into a graph as soon as its input shape is known."""
import contextlib

from numbanet.checks import as_input_array
from numbanet.graph import Graph, KerasTensor
from numbanet.layers.base import Input, InputLayer, Layer
from numbanet.model import Model, config_errors, rebuild_layers
from numbanet.params import Parameters


class Sequential(Model):
    """Without an Input (or input_shape=) it learns its input size from the first data it sees, as Keras
    does."""

    def __init__(self, layers=None, name=None, seed=None, device='cpu'):
        self._setup(name or 'sequential', seed, device)
        self._stack = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError("an Input can only be the first thing added to a Sequential")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a layer, got {type(layer).__name__}")
        if not layer.single_input:
            raise ValueError(f"layer '{layer.name}' merges several inputs and cannot sit in a Sequential; "
                             f"use the functional API")
        shape = self._known_input_shape(self._stack + [layer])
        if shape is not None:
            self._build_graph(shape, self._stack + [layer])  # raises, changing nothing, if the layer does not fit
        self._stack.append(layer)

    @classmethod
    def from_config(cls, config, custom_objects=None, device='cpu', check_weights=None):
        layers, _, _ = rebuild_layers(config, custom_objects, check_weights)
        with config_errors():
            stack = [layers[node['layer']] for node in config['nodes']]
            for layer in stack:
                if not isinstance(layer, InputLayer):
                    layer.inbound_nodes.clear()  # the Sequential calls them itself, once
            return cls(stack, name=config.get('name'), seed=config.get('seed'), device=device)

    def pop(self):
        """Remove the last layer and return it (Keras's pop); a built model is rebuilt without it."""
        if not self._stack:
            raise ValueError(f"model '{self.name}' has no layers to pop")
        layer, stack = self._stack[-1], self._stack[:-1]
        if self.built and stack:
            self._build_graph(self._input_layer.shape, stack)
        elif self.built:  # nothing left to run: unbuilt, keeping its Input
            layer.inbound_nodes[:] = [n for n in layer.inbound_nodes if all(n is not m for m in self.graph.nodes)]
            self.graph, self._weights, self._plans = None, [], {}
            self._parameters = Parameters(self.device)
        self._stack = stack
        return layer

    @property
    def layers(self):
        return list(self._stack)

    def _known_input_shape(self, stack):
        if self._input_layer is not None:
            return self._input_layer.shape
        if stack and stack[0].input_shape_hint is not None:
            return stack[0].input_shape_hint
        return None

    def _build_graph(self, shape, stack):
        input_layer = self._input_layer or Input(shape=shape).node.layer
        # A Sequential calls its layers again at every rebuild: only the latest calls stay recorded, so
        # layer.output names the tensor of the model as it is (a refused rebuild leaves the old ones).
        marks = [len(layer.inbound_nodes) for layer in stack]
        try:
            x = inputs = input_layer.output
            for layer in stack:
                x = layer(x)
            graph = Graph(inputs, x)
        except BaseException:
            for layer, mark in zip(stack, marks):
                del layer.inbound_nodes[mark:]
            raise
        stale = {id(node) for node in self.graph.nodes} if self.built else set()
        for layer in {id(layer): layer for layer in self._stack + stack}.values():
            layer.inbound_nodes[:] = [node for node in layer.inbound_nodes if id(node) not in stale]
        self._input_layer = input_layer
        self._set_graph(graph)  # compile settles against it at the next fit or evaluate

    def _replace_layers(self, replacements):
        super()._replace_layers(replacements)
        self._stack = [replacements.get(id(layer), layer) for layer in self._stack]

    def build(self, input_shape=None):
        """build((None, 784)) or build((784,)): fix the input size and create the weights."""
        if input_shape is None:
            input_shape = self._known_input_shape(self._stack)
            if input_shape is None:
                raise ValueError("build() needs an input_shape, e.g. build((None, 784))")
        input_shape = tuple(input_shape)
        if input_shape and input_shape[0] is None:
            input_shape = input_shape[1:]
        if not self._stack:
            raise ValueError("a Sequential needs at least one layer before it can be built")
        known = self._known_input_shape(self._stack)
        if known is not None and self.built and tuple(known) != input_shape:
            raise ValueError(f"model '{self.name}' was built for input shape {known}, got {input_shape}")
        if not self.built:
            self._build_graph(input_shape, self._stack)

    @contextlib.contextmanager
    def _checking(self):
        # Checking y needs the output width, so x builds the model first; refused data must not leave it
        # built (its layers fixed to a width the user never meant). Under the lock, as _ensure_built: no
        # other thread uses a build that may yet be undone.
        with self._lock if not self.built else contextlib.nullcontext():
            if self.built:  # maybe by another thread, while this one waited
                yield
                return
            marks = [(layer, layer.built, len(layer.weights_list), len(layer.inbound_nodes)) for layer in self._stack]
            input_layer = self._input_layer
            try:
                yield
            except BaseException:
                for layer, built, n_weights, n_nodes in marks:
                    del layer.weights_list[n_weights:], layer.inbound_nodes[n_nodes:]
                    layer.built, layer.built_input_shape = built, layer.built_input_shape if built else None
                self._input_layer, self.graph, self._weights, self._plans = input_layer, None, [], {}
                self._parameters = Parameters(self.device)
                raise

    def _ensure_built(self, x):
        # Threads making the first calls at once: the first to take the lock builds, the others find it built.
        with self._lock:
            if self.built:
                return
            if not self._stack:
                raise ValueError("this Sequential has no layers; add some before using it")
            # Check the data before building, so refused data leaves the model unbuilt.
            arr = as_input_array(x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x, 'x')
            if arr.ndim < 2:
                raise ValueError(f"x must be shaped (N, features) to build the model from it, got shape {arr.shape}")
            self._build_graph(arr.shape[1:], self._stack)
