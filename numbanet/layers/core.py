"""Dense, Dropout and the shape layers Flatten and Reshape."""
import numpy as np

from numbanet import activations, initializers, regularizers
from numbanet.backend import rows
from numbanet.checks import is_number, positive_int
from numbanet.layers.base import Layer, require_vector
from numbanet.utils import mix_seed


class KernelLayer(Layer):
    """What Dense and the convolutions share, configured as Keras configures them: an activation, a kernel
    and an optional bias, with their initializers and regularizers."""

    def __init__(self, activation=None, use_bias=True, kernel_initializer='glorot_uniform', bias_initializer='zeros',
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = self.bias = None
        super().__init__(**kwargs)

    def add_kernel_and_bias(self, kernel_shape):
        """The kernel, and the bias (one per output: the kernel's last axis) when use_bias; call in build()."""
        self.kernel = self.add_weight('kernel', kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight('bias', kernel_shape[-1:], self.bias_initializer,
                                        regularizer=self.bias_regularizer)

    def kernel_config(self, **own):
        """get_config(): the base's entries, then the layer's own, then the kernel's and the bias's."""
        config = super().get_config()
        config.update(own, activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      kernel_initializer=initializers.name_of(self.kernel_initializer),
                      bias_initializer=initializers.name_of(self.bias_initializer))
        if self.kernel_regularizer is not None:
            config['kernel_regularizer'] = regularizers.serialize(self.kernel_regularizer)
        if self.bias_regularizer is not None:
            config['bias_regularizer'] = regularizers.serialize(self.bias_regularizer)
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


class Dense(KernelLayer):
    """out = activation(inp @ kernel + bias), kernel shaped (in, units) as in Keras."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer='glorot_uniform',
                 bias_initializer='zeros', kernel_regularizer=None, bias_regularizer=None, **kwargs):
        self.units = positive_int(units, 'units')
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)

    def build(self, input_shape):
        require_vector(self, input_shape)
        self.add_kernel_and_bias((input_shape[0], self.units))

    def compute_output_shape(self, input_shape):
        require_vector(self, input_shape)
        return (self.units,)

    # ReLU runs in the product's last pass over each row of the output, and its backward masks dout in
    # place: one pass less over the activations each way.
    fused_activations = ('relu',)
    overwrites_gradients = True

    def workspace(self, batch, training):
        # The transposed kernel, so the input gradient's product also streams contiguous rows.
        return {'weight_t': (self.units, self.kernel.shape[0])} if training else {}

    def forward(self, x, out, ctx):
        ctx.k.dense_forward(out, x, self.kernel.value, self.bias.value if self.use_bias else None,
                            self.activation.name == 'relu')

    def forward_call(self, x, out, ctx):
        if type(self).forward is not Dense.forward:  # a subclass's own forward stays in charge
            return super().forward_call(x, out, ctx)
        return ctx.k.dense_forward_call(out, x, self.kernel.value, self.bias.value if self.use_bias else None,
                                        self.activation.name == 'relu')

    def backward(self, x, out, dout, dx, ctx):
        for fn, args in self._kernel_calls(x, out, dout, dx, ctx):
            fn(*args)

    def backward_calls(self, x, out, dout, dx, ctx):
        if type(self).backward is not Dense.backward:  # a subclass's own backward stays in charge
            return super().backward_calls(x, out, dout, dx, ctx)
        return self._kernel_calls(x, out, dout, dx, ctx)

    def _kernel_calls(self, x, out, dout, dx, ctx):
        trains = self.trainable
        mask = [ctx.k.relu_mask_call(dout, out)] if self.activation.name == 'relu' else []
        return mask + ctx.k.dense_backward_calls(dx, self.kernel.grad if trains else None,
                                                 self.bias.grad if trains and self.use_bias else None,
                                                 ctx.ws.get('weight_t'), dout, x, self.kernel.value,
                                                 not ctx.fresh_grads)

    def get_config(self):
        return self.kernel_config(units=self.units)

    def extra_repr(self):
        return f"units={self.units}, activation={self.activation.name}"


class Dropout(Layer):
    """Inverted dropout: in training each element is zeroed with probability `rate` and the rest scaled by
    1 / (1 - rate); in inference it passes its input through. The masks come from a counter-based
    generator seeded by the model's seed, the training step and the layer's place in the graph (and
    `seed` when given), so training repeats bit for bit and nothing is allocated per step."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if noise_shape is not None:
            raise ValueError("Dropout's noise_shape is not supported: every element gets its own draw")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = None if seed is None else int(seed)

    @property
    def rate(self):
        return self._rate

    @rate.setter
    def rate(self, value):  # checked however it is set: the kernels scale by 1 / (1 - rate)
        if not is_number(value) or not 0.0 <= value < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {value!r}")
        self._rate = float(value)

    def workspace(self, batch, training):
        return {'mask': (batch,) + self.built_input_shape} if training else {}

    def forward(self, x, out, ctx):
        if ctx.training and self.rate:
            seed = np.uint64(mix_seed(ctx.seed, ctx.index, 0 if self.seed is None else self.seed + 1))
            ctx.k.dropout_forward(rows(out), rows(ctx.ws['mask']), rows(x), self.rate, seed)
        else:
            ctx.k.add_backward(rows(out), rows(x))  # a copy

    def backward(self, x, out, dout, dx, ctx):
        if dx is None:
            return
        if self.rate:
            ctx.k.dropout_backward(rows(dx), rows(dout), rows(ctx.ws['mask']))
        else:
            ctx.k.add_backward(rows(dx), rows(dout))

    def get_config(self):
        return {**super().get_config(), 'rate': self.rate, 'seed': self.seed}

    def extra_repr(self):
        return f"rate={self.rate}"


class _Copy(Layer):
    """A layer whose output holds its input's values in another shape: forward and backward are copies."""

    def forward(self, x, out, ctx):
        ctx.k.add_backward(rows(out.reshape(x.shape)), rows(x))

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.add_backward(rows(dx), rows(dout.reshape(dx.shape)))


class Flatten(_Copy):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...), in row-major order (Keras's channels-last order)."""

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)


class Reshape(_Copy):
    """Reshape(target_shape), the batch left out; one dimension may be -1, worked out from the others."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(int(d) for d in target_shape)
            if any(d != td for d, td in zip(target, target_shape)):
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"target_shape must be a tuple of ints, got {target_shape!r}") from None
        if target.count(-1) > 1 or any(d < 1 and d != -1 for d in target) or not target:
            raise ValueError(f"target_shape must be positive ints with at most one -1, got {target_shape!r}")
        self.target_shape = target

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # refuse a shape that does not fit before anything is built

    def compute_output_shape(self, input_shape):
        size, known = int(np.prod(input_shape)), int(np.prod([d for d in self.target_shape if d != -1]))
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"layer '{self.name}' cannot reshape {(None,) + tuple(input_shape)} to "
                                 f"{(None,) + self.target_shape}: {size} values do not split into rows of {known}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size != known:
            raise ValueError(f"layer '{self.name}' cannot reshape {(None,) + tuple(input_shape)} ({size} values) "
                             f"to {(None,) + self.target_shape} ({known} values)")
        return self.target_shape

    def get_config(self):
        return {**super().get_config(), 'target_shape': list(self.target_shape)}

    def extra_repr(self):
        return f"target_shape={self.target_shape}"
