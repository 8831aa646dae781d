"""The layer contract, and Input.

A layer is a small class over kernels:
- `build(input_shape)` creates its weights with `add_weight` once the input shape (batch left out) is known;
- `compute_output_shape(input_shape)` says what it produces;
- `forward(inputs, output, ctx)` writes its output (before its activation, which the plan applies);
- `backward(inputs, output, doutput, dinputs, ctx)` adds (+=) into its weights' `grad` arrays and
  overwrites each input's gradient in `dinputs` (None where that input needs none);
- `workspace(batch, training)` names scratch buffers (shape, or (shape, dtype)) it wants in `ctx.ws`;
- `get_config()` returns what rebuilds it.
A single-input layer receives one array as `inputs` (and `dinputs`); a merge layer (single_input = False)
a list. `ctx` carries the device's kernel set (`ctx.k`), `ctx.device`, `ctx.ws` and `ctx.training`
(True in fit and train_on_batch, False in evaluate and predict). Layers never import numba: built-in
layers call `ctx.k.<kernel>`; a user's layer may call its own njit kernels (README, "Writing a layer").
"""
import functools
import re
from collections import Counter

import numpy as np

from numbanet import activations, initializers, regularizers
from numbanet.backend import get_backend, to_numpy, write
from numbanet.checks import as_float_array, check_weight_list, positive_int
from numbanet.graph import Graph, KerasTensor, Node, call_layer
from numbanet.params import Weight, materialize
from numbanet.plan import Plan
from numbanet.utils import global_rng

_name_counts = Counter()
_names_taken = set()


def unique_name(base):
    """base, base_1, base_2, ...: the first one no layer of this process has been given yet."""
    while True:
        n = _name_counts[base]
        _name_counts[base] += 1
        name = base if n == 0 else f"{base}_{n}"
        if name not in _names_taken:
            return name


def _snake(name):
    # Keras's: BatchNormalization -> batch_normalization, LeakyReLU -> leaky_re_lu, ELU -> elu,
    # Conv2D -> conv2d, MaxPooling2D -> max_pooling2d.
    name = re.sub(r'(.)([A-Z][a-z0-9]+)', r'\1_\2', name)
    return re.sub(r'([a-z])([A-Z])', r'\1_\2', name).lower()


def shape_tuple(shape, what):
    """A shape as a tuple of positive ints (an int is a 1-tuple), or a ValueError naming `what`."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{what} must be a tuple of positive ints, got {shape!r}") from None
    for d in shape:
        positive_int(d, f"every dimension of {what}")
    return tuple(int(d) for d in shape)


def require_vector(layer, input_shape):
    if len(input_shape) != 1:
        raise ValueError(f"layer '{layer.name}' needs inputs shaped (batch, features); got "
                         f"{(None,) + tuple(input_shape)}. Put a Flatten() before it, or reshape the data to "
                         f"(N, {int(np.prod(input_shape))})")


class Layer:
    """Base class of every layer; subclass it to write your own (see the module docstring)."""

    single_input = True
    # False for a layer that is nothing but its activation: the plan then runs the activation on the
    # layer's input and never calls forward/backward.
    computes = True
    activation = activations.linear
    # Activations (by name) that forward applies itself, fused into its product, instead of the plan
    # running them as a step of their own: forward then writes the activated output, and backward gets
    # the gradient of that output (and may overwrite it). A subclass that overrides forward or backward
    # does not inherit this unless it says so again.
    fused_activations = ()
    # True: when ctx.fresh_grads, backward writes (=) its weights' gradients, which the plan then need not zero
    # first (a memory pass). Not inherited by a subclass that overrides backward.
    overwrites_gradients = False

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if dtype not in (None, 'float32', np.float32):
            raise ValueError(f"numbanet layers compute in float32; dtype={dtype!r} is not supported")
        if name is None:
            name = unique_name(_snake(type(self).__name__))
        elif not isinstance(name, str) or not name or '/' in name:
            raise ValueError(f"layer name must be a non-empty str without '/', got {name!r}")
        if not isinstance(trainable, (bool, np.bool_)):
            raise ValueError(f"trainable must be True or False, got {trainable!r}")
        _names_taken.add(name)
        self.name = name
        self.trainable = bool(trainable)
        self.built = self.building = False
        self.input_shape_hint = None if input_shape is None else shape_tuple(input_shape, 'input_shape')
        self.weights_list = []
        self.inbound_nodes = []
        self.built_input_shape = None

    # ---- declaring weights -------------------------------------------------------------------------------
    def add_weight(self, name=None, shape=None, initializer='glorot_uniform', trainable=True, dtype='float32',
                   regularizer=None):
        """A weight of this layer, stored in the model's flat buffers (trainable=False: in its state
        buffer, untouched by the optimizer). Read `.value` in forward, add into `.grad` in backward (a layer's
        own weights only: a layer that overwrites_gradients writes its own, when it is the first to reach them).
        A regularizer (numbanet.regularizers) adds its penalty to the loss and its gradient in each step."""
        if self.built:
            raise RuntimeError(f"layer '{self.name}' is built already: add its weights in build()")
        name = f"weight_{len(self.weights_list)}" if name is None else name
        if not isinstance(name, str) or not name or '/' in name:
            raise ValueError(f"weight name must be a non-empty str without '/', got {name!r}")
        if any(w.name == f"{self.name}/{name}" for w in self.weights_list):
            raise ValueError(f"layer '{self.name}' already has a weight named '{name}'")
        if shape is None:
            raise ValueError(f"add_weight('{name}') needs a shape")
        if np.dtype(dtype) not in (np.float32, np.int8):
            raise ValueError(f"weight '{name}' must be float32 (int8 for quantized kernels), got dtype {dtype!r}")
        shape = () if isinstance(shape, tuple) and shape == () else shape_tuple(shape, f"shape of weight '{name}'")
        w = Weight(f"{self.name}/{name}", shape, initializers.get(initializer), trainable, dtype,
                   regularizers.get(regularizer))
        self.weights_list.append(w)
        return w

    def build(self, input_shape):
        pass

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if 'build' in cls.__dict__:
            cls.build = _builds_once(cls.__dict__['build'])
        if ('forward' in cls.__dict__ or 'backward' in cls.__dict__) and 'fused_activations' not in cls.__dict__:
            cls.fused_activations = ()
        if 'backward' in cls.__dict__ and 'overwrites_gradients' not in cls.__dict__:
            cls.overwrites_gradients = False

    def ensure_built(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built, self.built_input_shape = True, input_shape
        elif self.built_input_shape is not None and input_shape != self.built_input_shape:
            raise ValueError(f"layer '{self.name}' was built for input shape {self.built_input_shape} "
                             f"and cannot take {input_shape}")

    def compute_output_shape(self, input_shape):
        return input_shape

    def workspace(self, batch, training):
        """Scratch buffers for one batch size: {name: shape or (shape, dtype)}, handed over in ctx.ws."""
        return {}

    # ---- running -----------------------------------------------------------------------------------------
    def forward(self, inputs, output, ctx):
        raise NotImplementedError(f"layer '{self.name}' ({type(self).__name__}) defines no forward()")

    def forward_call(self, inputs, output, ctx):
        """(fn, args), fn(*args) doing forward(inputs, output, ctx): a plan asks once and calls it every pass. A
        layer whose forward is one kernel call may hand that back, checked once, if the arrays stay put (its
        weights do: a model's buffers and its plans go together)."""
        return self.forward, (inputs, output, ctx)

    def backward_calls(self, inputs, output, doutput, dinputs, ctx):
        """[(fn, args), ...] doing backward(inputs, output, doutput, dinputs, ctx) in order, bound as forward_call
        is, when a plan first trains (trainable is read then: a change makes new plans)."""
        return [(self.backward, (inputs, output, doutput, dinputs, ctx))]

    def backward(self, inputs, output, doutput, dinputs, ctx):
        raise NotImplementedError(f"layer '{self.name}' ({type(self).__name__}) defines no backward(), "
                                  f"so it cannot be trained through")

    # A layer that keeps state from training (moving statistics) defines after_step(ctx): called once a
    # training step's loss is known to be finite, so a step refused for NaN leaves the state as it was.
    after_step = None

    def fuse(self, reader):
        """None, or a stand-in with a layer's running surface (workspace, forward, backward) that runs this layer
        and `reader`, the one layer reading its output, as one step: plan.py asks (Conv2D offers one)."""

    # ---- calling -----------------------------------------------------------------------------------------
    def __call__(self, inputs, training=False):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if self.single_input and len(tensors) != 1:
            raise ValueError(f"layer '{self.name}' takes one input, got {len(tensors)}")
        if not self.single_input and not isinstance(inputs, (list, tuple)):
            raise ValueError(f"layer '{self.name}' merges several inputs: call it on a list of tensors")
        symbolic = [isinstance(t, KerasTensor) for t in tensors]
        if all(symbolic):
            return call_layer(self, tensors)
        if any(symbolic):
            raise TypeError(f"layer '{self.name}' was called on a mix of symbolic tensors and arrays")
        return self._call_eagerly(tensors, training)

    def _call_eagerly(self, arrays, training):
        # layer(array): compute right away, as Keras does outside a model, through a one-layer plan.
        arrays = [as_float_array(a, f"input of layer '{self.name}'") for a in arrays]
        if any(a.ndim < 2 for a in arrays) or len({a.shape[0] for a in arrays}) != 1:
            raise ValueError(f"layer '{self.name}' needs arrays shaped (batch, ...) with one batch size, got "
                             f"{[a.shape for a in arrays]}")
        shapes = [a.shape[1:] for a in arrays]
        self.ensure_built(shapes[0] if self.single_input else shapes)
        inputs = [InputLayer(shape=s, name=f"{self.name}_input_{i}").output for i, s in enumerate(shapes)]
        node = Node(self, inputs)
        node.output = KerasTensor((None,) + tuple(self.compute_output_shape(
            shapes[0] if self.single_input else shapes)), node, f"{self.name}/output")
        materialize(self.weights_list, global_rng())
        held = [w.store for w in self.weights_list if w.flat]
        plan = Plan(Graph(inputs, node.output), held[0].backend if held else get_backend('cpu'), arrays[0].shape[0])
        for buf, a in zip(plan.inputs, arrays):
            write(buf, a)
        plan.forward(training, seed=int(global_rng().integers(2**63)) if training else 0)
        if training:
            plan.after_step()
        plan.head_forward()
        return to_numpy(plan.output)

    # ---- the graph, Keras style --------------------------------------------------------------------------
    def _only_node(self, what):
        # AttributeError, as in Keras, so hasattr(layer, 'output') is False rather than an exception.
        if not self.inbound_nodes:
            raise AttributeError(f"layer '{self.name}' has never been called on a symbolic tensor, so it has no "
                                 f"{what} yet")
        if len(self.inbound_nodes) > 1:
            raise AttributeError(f"layer '{self.name}' has been called {len(self.inbound_nodes)} times, so its "
                                 f"{what} is ambiguous; use the tensor a call returned instead")
        return self.inbound_nodes[0]

    @property
    def input(self):
        """The symbolic tensor this layer was called on (a list for a merge layer)."""
        node = self._only_node('input')
        if not node.inputs:
            raise AttributeError(f"input layer '{self.name}' has no input tensor; use its .output")
        return node.inputs[0] if self.single_input else list(node.inputs)

    @property
    def output(self):
        """The symbolic tensor this layer's one call produced."""
        return self._only_node('output').output

    # ---- weights, Keras style ----------------------------------------------------------------------------
    @property
    def weights(self):
        materialize(self.weights_list, global_rng())
        return [w.value for w in self.weights_list]

    @property
    def trainable_weights(self):
        return [v for w, v in zip(self.weights_list, self.weights) if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [v for w, v in zip(self.weights_list, self.weights) if not (w.trainable and self.trainable)]

    def get_weights(self):
        return [to_numpy(v) for v in self.weights]

    def set_weights(self, weights):
        values = check_weight_list(weights, self.weights_list, f"layer '{self.name}'")
        materialize(self.weights_list, global_rng())
        for w, v in zip(self.weights_list, values):
            w.assign(v)

    def count_params(self):
        if not self.built:
            raise ValueError(f"layer '{self.name}' is not built yet, so it has no weights to count")
        return sum(w.size for w in self.weights_list)

    def get_config(self):
        config = {'name': self.name, 'trainable': self.trainable}
        if self.input_shape_hint is not None:
            config['input_shape'] = self.input_shape_hint
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def extra_repr(self):
        return ''

    def __repr__(self):
        extra = self.extra_repr()
        return f"<{type(self).__name__} name={self.name}{', ' + extra if extra else ''}, built={self.built}>"


def _builds_once(build):
    """Every build() of a Layer subclass, wrapped as Keras wraps it: a layer is built once (called by hand
    or by the graph), a build that fails half-way leaves no weights behind, and a subclass's build may
    call its parent's."""
    @functools.wraps(build)
    def wrapper(self, input_shape):
        if self.building:
            return build(self, input_shape)
        if self.built:
            self.ensure_built(input_shape)  # only checks that the shape is the one it was built for
            return
        declared, self.building = len(self.weights_list), True
        try:
            build(self, input_shape)
        except BaseException:
            del self.weights_list[declared:]
            raise
        finally:
            self.building = False
        self.built, self.built_input_shape = True, input_shape
    return wrapper


class InputLayer(Layer):
    """Where data enters a graph. Holds no weights; the batch is copied into its buffer."""

    def __init__(self, shape=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.shape = shape_tuple(shape, 'Input shape')
        self.built = True
        node = Node(self, [])
        node.output = KerasTensor((None,) + self.shape, node, self.name)
        self.inbound_nodes.append(node)

    def compute_output_shape(self, input_shape):
        return self.shape

    def get_config(self):
        return {'name': self.name, 'shape': self.shape}

    def extra_repr(self):
        return f"shape={self.shape}"


def Input(shape=None, name=None, batch_size=None):
    """A symbolic input tensor, shape without the batch dimension: Input(shape=(784,))."""
    if shape is None:
        raise ValueError("Input needs a shape, e.g. Input(shape=(784,))")
    if batch_size is not None:
        positive_int(batch_size, 'batch_size')
    return InputLayer(shape=shape, name=name).output
