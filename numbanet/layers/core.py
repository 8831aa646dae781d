"""Dense: out = activation(inp @ kernel + bias), kernel shaped (in, units) as in Keras."""
from numbanet import activations, initializers
from numbanet.checks import positive_int
from numbanet.layers.base import Layer, require_vector


class Dense(Layer):
    def __init__(self, units, activation=None, use_bias=True, kernel_initializer='glorot_uniform',
                 bias_initializer='zeros', **kwargs):
        self.units = positive_int(units, 'units')
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = self.bias = None
        super().__init__(**kwargs)

    def build(self, input_shape):
        require_vector(self, input_shape)
        self.kernel = self.add_weight('kernel', (input_shape[0], self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight('bias', (self.units,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        require_vector(self, input_shape)
        return (self.units,)

    def workspace(self, batch, training):
        # The transposed kernel, so the input gradient's product also streams contiguous rows.
        return {'weight_t': (self.units, self.kernel.shape[0])} if training else {}

    def forward(self, x, out, ctx):
        ctx.k.dense_forward(out, x, self.kernel.value, self.bias.value if self.use_bias else None)

    def backward(self, x, out, dout, dx, ctx):
        trains = self.trainable
        ctx.k.dense_backward(dx, self.kernel.grad if trains else None,
                             self.bias.grad if trains and self.use_bias else None,
                             ctx.ws.get('weight_t'), dout, x, self.kernel.value)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      kernel_initializer=initializers.name_of(self.kernel_initializer),
                      bias_initializer=initializers.name_of(self.bias_initializer))
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

    def extra_repr(self):
        return f"units={self.units}, activation={self.activation.name}"
