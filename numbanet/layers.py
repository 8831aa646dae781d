"""Layers: Input, Dense, ReLU, Softmax, Activation, Add, Concatenate.

A layer declares its weights in build() once its input shape is known, computes with kernels in
forward(), and propagates gradients in backward(): backward accumulates (+=) into its weights'
gradients and overwrites its inputs' gradients. Layers never import numba; `k` is the kernel set of
whichever backend runs them. The arrays a layer sees are (batch, features), float32.
"""
import re
from collections import Counter

import numpy as np

from numbanet import initializers
from numbanet.checks import positive_int
from numbanet.graph import KerasTensor, Node, call_layer

_name_counts = Counter()


def _unique_name(base):
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def _snake(name):
    return re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()


def _shape_tuple(shape, what):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{what} must be a tuple of positive ints, got {shape!r}") from None
    for d in shape:
        positive_int(d, f"every dimension of {what}")
    return tuple(int(d) for d in shape)


class Weight:
    """One parameter tensor. `value` and `grad` are live views into the flat buffers of the model that
    holds the layer (or of the layer itself before any model does); None until then.

    A weight that is not `flat` (an int8 kernel after quantize(), its scales) keeps an array of its own
    instead: it is not trained, so it needs no place in the float32 parameter and gradient buffers.
    `mask`, when pruning set one, marks the entries that stay zero (False) through training."""

    def __init__(self, name, shape, initializer, dtype='float32', flat=True):
        self.name = name
        self.shape = tuple(shape)
        self.initializer = initializer
        self.dtype = np.dtype(dtype)
        self.flat = flat
        self.size = int(np.prod(self.shape))
        self.value = None
        self.grad = None
        self.mask = None
        self.version = 0  # bumped by assign(): whatever is derived from the value is stale then

    def assign(self, values):
        """Write new values into this weight's array, wherever it lives."""
        from numbanet.backend import write
        write(self.value, values)
        self.version += 1

    def __repr__(self):
        return f"<Weight {self.name} shape={self.shape}>"


class Layer:
    """Base class. Subclasses set `single_input` and implement build/compute_output_shape/forward/backward."""

    single_input = True

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if dtype not in (None, 'float32', np.float32):
            raise ValueError(f"numbanet layers compute in float32; dtype={dtype!r} is not supported")
        if name is None:
            name = _unique_name(_snake(type(self).__name__))
        elif not isinstance(name, str) or not name:
            raise ValueError(f"layer name must be a non-empty str, got {name!r}")
        self.name = name
        self.trainable = bool(trainable)
        self.built = False
        self.input_shape_hint = None if input_shape is None else _shape_tuple(input_shape, 'input_shape')
        self.weights_list = []
        self.inbound_nodes = []
        self.owner = None       # the object whose flat buffers hold this layer's weights
        self._built_input_shape = None

    # ---- declaring weights -------------------------------------------------------------------
    def add_weight(self, name, shape, initializer):
        w = Weight(f"{self.name}/{name}", shape, initializers.get(initializer))
        self.weights_list.append(w)
        return w

    def build(self, input_shape):
        self.built = True

    def ensure_built(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built = True
            self._built_input_shape = input_shape
        elif self._built_input_shape is not None and input_shape != self._built_input_shape:
            raise ValueError(f"layer '{self.name}' was built for input shape {self._built_input_shape} "
                             f"and cannot take {input_shape}")

    def compute_output_shape(self, input_shape):
        return input_shape

    def workspace(self, batch, training):
        """Shapes of the scratch buffers this layer needs for one batch size."""
        return {}

    # ---- calling -----------------------------------------------------------------------------
    def __call__(self, inputs):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if self.single_input and len(tensors) != 1:
            raise ValueError(f"layer '{self.name}' takes one input, got {len(tensors)}")
        if not self.single_input and not isinstance(inputs, (list, tuple)):
            raise ValueError(f"layer '{self.name}' merges several inputs: call it on a list of tensors")
        symbolic = [isinstance(t, KerasTensor) for t in tensors]
        if all(symbolic):
            return call_layer(self, tensors, self.single_input)
        if any(symbolic):
            raise TypeError(f"layer '{self.name}' was called on a mix of symbolic tensors and arrays")
        return self._call_eager(tensors)

    def _call_eager(self, arrays):
        # layer(array): compute right away, as Keras does outside a model.
        from numbanet.backend import get_backend
        from numbanet.checks import as_float_array
        arrays = [as_float_array(a, f"input of layer '{self.name}'") for a in arrays]
        if any(a.ndim < 2 for a in arrays):
            raise ValueError(f"layer '{self.name}' needs arrays shaped (batch, features), got "
                             f"{[a.shape for a in arrays]}")
        shapes = [a.shape[1:] for a in arrays]
        self.ensure_built(shapes[0] if self.single_input else shapes)
        out_shape = self.compute_output_shape(shapes[0] if self.single_input else shapes)
        materialize(self)
        backend = get_backend('cpu')
        out = backend.empty((arrays[0].shape[0],) + tuple(out_shape))
        ws = {n: backend.empty(s) for n, s in self.workspace(arrays[0].shape[0], False).items()}
        self.forward(backend.k, arrays, out, ws, False)
        return out

    # ---- running -----------------------------------------------------------------------------
    def forward(self, k, inputs, out, ws, logits):
        raise NotImplementedError

    def backward(self, k, inputs, out, dout, dinputs, ws, logits):
        raise NotImplementedError

    # ---- weights, Keras style ----------------------------------------------------------------
    @property
    def weights(self):
        materialize(self)
        return [w.value for w in self.weights_list]

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [] if self.trainable else self.weights

    def get_weights(self):
        from numbanet.backend import to_numpy
        return [to_numpy(v) for v in self.weights]

    def set_weights(self, weights):
        from numbanet.checks import check_weight_list
        values = check_weight_list(weights, self.weights_list, f"layer '{self.name}'")
        materialize(self)
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

    def _extra_repr(self):
        return ''

    def __repr__(self):
        extra = self._extra_repr()
        return f"<{type(self).__name__} name={self.name}{', ' + extra if extra else ''}, built={self.built}>"


def materialize(layer):
    """Give a layer that no model holds yet storage of its own (for get_weights or an eager call)."""
    if layer.owner is not None or not layer.weights_list:
        return
    from numbanet.utils import global_rng
    total = sum(w.size for w in layer.weights_list if w.flat)
    params, grads = np.empty(total, np.float32), np.zeros(total, np.float32)
    offset = 0
    for w in layer.weights_list:
        if not w.flat:
            continue
        w.value = params[offset:offset + w.size].reshape(w.shape)
        w.grad = grads[offset:offset + w.size].reshape(w.shape)
        w.value[...] = w.initializer(w.shape, global_rng())
        offset += w.size
    layer.owner = layer


class InputLayer(Layer):
    """Where data enters a graph. Holds no weights; the batch is copied into its buffer."""

    def __init__(self, shape=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.shape = _shape_tuple(shape, 'Input shape')
        self.built = True
        node = Node(self, [])
        node.output = KerasTensor((None,) + self.shape, node, self.name)
        self.inbound_nodes.append(node)
        self.output = node.output

    def compute_output_shape(self, input_shape):
        return self.shape

    def get_config(self):
        return {'name': self.name, 'shape': self.shape}

    def _extra_repr(self):
        return f"shape={self.shape}"


def Input(shape=None, name=None, batch_size=None):
    """A symbolic input tensor, shape without the batch dimension: Input(shape=(784,))."""
    if shape is None:
        raise ValueError("Input needs a shape, e.g. Input(shape=(784,))")
    if batch_size is not None:
        positive_int(batch_size, 'batch_size')
    return InputLayer(shape=shape, name=name).output


_ACTIVATIONS = {None: None, 'linear': None, 'relu': 'relu', 'softmax': 'softmax'}


def _activation(value):
    if value not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of None, 'linear', 'relu', 'softmax', got {value!r}")
    return _ACTIVATIONS[value]


def _applies(act, logits):
    # In logits mode a final softmax is left to the loss, which fuses it with cross-entropy.
    return act == 'relu' or (act == 'softmax' and not logits)


def _require_vector(layer, input_shape):
    if len(input_shape) != 1:
        raise ValueError(f"layer '{layer.name}' needs inputs shaped (batch, features); got "
                         f"{(None,) + tuple(input_shape)}. Reshape the data to (N, {int(np.prod(input_shape))}) first")


class Dense(Layer):
    """out = activation(inp @ kernel + bias), kernel shaped (in, units) as in Keras."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer='glorot_uniform',
                 bias_initializer='zeros', quantized=None, input_scale=None, **kwargs):
        self.units = positive_int(units, 'units')
        self.activation = _activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if quantized not in (None, 'int8'):
            raise ValueError(f"quantized must be None or 'int8', got {quantized!r}")
        self.quantized = None
        self._pending_quantization = (quantized, input_scale)  # a saved int8 layer, rebuilt by load_model
        super().__init__(**kwargs)

    def build(self, input_shape):
        _require_vector(self, input_shape)
        self._kernel = self.add_weight('kernel', (input_shape[0], self.units), self.kernel_initializer)
        self._bias = self.add_weight('bias', (self.units,), self.bias_initializer) if self.use_bias else None
        mode, input_scale = self._pending_quantization
        if mode == 'int8':  # the values come from the file
            self._set_int8(np.zeros(self._kernel.shape, np.int8), np.ones(self.units, np.float32), input_scale)

    # ---- int8 ------------------------------------------------------------------------------------------
    def quantize_int8(self, kernel, input_scale=None):
        """Replace the float kernel with int8 values and one symmetric scale per output column."""
        scale = np.abs(kernel).max(axis=0) / 127.0
        scale[scale == 0] = 1.0  # an all-zero column (a pruned unit) stays zero
        q = np.clip(np.rint(kernel / scale), -127, 127).astype(np.int8)
        self._set_int8(q, scale.astype(np.float32), input_scale)

    def _set_int8(self, q, scale, input_scale):
        kernel = Weight(f"{self.name}/kernel", q.shape, None, dtype='int8', flat=False)
        kernel.value = q
        kernel_scale = Weight(f"{self.name}/kernel_scale", (self.units,), None, flat=False)
        kernel_scale.value = scale
        self.weights_list = [kernel] + ([self._bias] if self._bias is not None else []) + [kernel_scale]
        self._kernel, self._kernel_scale = kernel, kernel_scale
        self._packed = None  # the kernel in the kernels' packed layout, made from it when first needed
        self.quantized = 'int8'
        self.input_scale = None if input_scale is None else float(input_scale)
        self.trainable = False

    @property
    def kernel(self):
        materialize(self)
        return self._kernel.value

    @property
    def bias(self):
        materialize(self)
        return self._bias.value if self._bias is not None else None

    def compute_output_shape(self, input_shape):
        _require_vector(self, input_shape)
        return (self.units,)

    def workspace(self, batch, training):
        # 'z' holds the pre-activation in forward and its gradient in backward (activation kernels
        # must not work in place); 'weight_t' is the transposed kernel for the input gradient; an int8
        # layer quantizes its input into 'x_q' with one scale per row in 'x_scale'.
        ws = {'z': (batch, self.units)} if self.activation else {}
        if training and not self.quantized:
            ws['weight_t'] = (self.units, self._kernel.shape[0])
        if self.quantized:
            ws['x_q'] = ((batch, (self._kernel.shape[0] + 3) // 4 * 4), np.uint8)
            ws['x_scale'] = ((batch,), np.float32)
        return ws

    def _product(self, k, z, x, ws, bias):
        if not self.quantized:
            k.dense_forward(z, x, self._kernel.value, bias)
            return
        if self.input_scale is None:
            k.quantize_rows(ws['x_q'], ws['x_scale'], x)
        else:
            k.quantize_static(ws['x_q'], ws['x_scale'], x, self.input_scale)
        key = (id(self._kernel.value), self._kernel.version)
        if self._packed is None or self._packed[0] != key:
            # Once per kernel value: packed again only when it is set, loaded or moved to another device.
            self._packed = (key, *k.pack_int8_weights(self._kernel.value))
        _, packed, colsum = self._packed
        k.int8_dense_forward(z, ws['x_q'], ws['x_scale'], packed, colsum, self._kernel_scale.value, bias)

    def forward(self, k, inputs, out, ws, logits):
        bias = self._bias.value if self._bias is not None else k.NO_BIAS
        act = self.activation
        if not _applies(act, logits):
            self._product(k, out, inputs[0], ws, bias)
            return
        z = ws['z']
        self._product(k, z, inputs[0], ws, bias)
        if act == 'relu':
            k.relu_forward(out, z)
        else:
            k.softmax_forward(out, z)

    def backward(self, k, inputs, out, dout, dinputs, ws, logits):
        act = self.activation
        dz = dout
        if _applies(act, logits):
            dz = ws['z']
            if act == 'relu':
                k.relu_backward(dz, dout, out)
            else:
                k.softmax_backward(dz, dout, out)
        trains = self.trainable
        k.dense_backward(dinputs[0], self._kernel.grad if trains else None,
                         self._bias.grad if (trains and self._bias is not None) else None,
                         ws.get('weight_t'), dz, inputs[0], self._kernel.value)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=initializers.name_of(self.kernel_initializer),
                      bias_initializer=initializers.name_of(self.bias_initializer))
        if self.quantized:
            config.update(quantized=self.quantized, input_scale=self.input_scale)
        return config

    @classmethod
    def from_config(cls, config):
        # A saved model carries its weights, so an initializer that was a custom callable (saved by name
        # only) need not be rebuilt: fall back to Keras's defaults for names numbanet does not know.
        config = dict(config)
        for key, default in (('kernel_initializer', 'glorot_uniform'), ('bias_initializer', 'zeros')):
            try:
                initializers.get(config.get(key, default))
            except ValueError:
                config[key] = default
        return cls(**config)

    def _extra_repr(self):
        return f"units={self.units}, activation={self.activation or 'linear'}" + (
            f", {self.quantized}" if self.quantized else '')


class Activation(Layer):
    """Applies 'relu', 'softmax' or 'linear' on its own."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activation(activation)

    def build(self, input_shape):
        _require_vector(self, input_shape)

    def forward(self, k, inputs, out, ws, logits):
        act = self.activation
        if act == 'relu':
            k.relu_forward(out, inputs[0])
        elif act == 'softmax' and not logits:
            k.softmax_forward(out, inputs[0])
        else:
            k.add_backward(out, inputs[0])  # identity: a copy

    def backward(self, k, inputs, out, dout, dinputs, ws, logits):
        dinp = dinputs[0]
        if dinp is None:
            return
        act = self.activation
        if act == 'relu':
            k.relu_backward(dinp, dout, out)
        elif act == 'softmax' and not logits:
            k.softmax_backward(dinp, dout, out)
        else:
            k.add_backward(dinp, dout)

    def get_config(self):
        config = super().get_config()
        config['activation'] = self.activation
        return config

    def _extra_repr(self):
        return f"activation={self.activation or 'linear'}"


class ReLU(Activation):
    def __init__(self, **kwargs):
        super().__init__('relu', **kwargs)

    def get_config(self):
        return Layer.get_config(self)


class Softmax(Activation):
    def __init__(self, axis=-1, **kwargs):
        if axis != -1:
            raise ValueError(f"Softmax works on the last axis only (axis=-1), got axis={axis!r}")
        super().__init__('softmax', **kwargs)

    def get_config(self):
        return Layer.get_config(self)


class Add(Layer):
    """Elementwise sum of two or more inputs of one shape (a residual connection)."""

    single_input = False

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"layer '{self.name}' adds at least two inputs, got {len(input_shape)}")
        if any(s != input_shape[0] for s in input_shape):
            raise ValueError(f"layer '{self.name}' needs inputs of one shape, got {list(input_shape)}")
        _require_vector(self, input_shape[0])

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def forward(self, k, inputs, out, ws, logits):
        k.add_forward(out, inputs[0], inputs[1])
        for extra in inputs[2:]:
            k.add_forward(out, out, extra)

    def backward(self, k, inputs, out, dout, dinputs, ws, logits):
        for dinp in dinputs:
            if dinp is not None:
                k.add_backward(dinp, dout)


class Concatenate(Layer):
    """Joins inputs along the last axis."""

    single_input = False

    def __init__(self, axis=-1, **kwargs):
        if axis not in (-1, 1):
            raise ValueError(f"Concatenate joins along the last axis only (axis=-1), got axis={axis!r}")
        super().__init__(**kwargs)
        self.axis = -1

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"layer '{self.name}' joins at least two inputs, got {len(input_shape)}")
        for s in input_shape:
            _require_vector(self, s)

    def compute_output_shape(self, input_shape):
        return (sum(s[0] for s in input_shape),)

    def forward(self, k, inputs, out, ws, logits):
        offset = 0
        for inp in inputs:
            k.concat_forward(out, inp, offset)
            offset += inp.shape[1]

    def backward(self, k, inputs, out, dout, dinputs, ws, logits):
        offset = 0
        for inp, dinp in zip(inputs, dinputs):
            if dinp is not None:
                k.concat_backward(dinp, dout, offset)
            offset += inp.shape[1]

    def get_config(self):
        config = super().get_config()
        config['axis'] = self.axis
        return config
