"""Layers that are an activation alone: Activation(name), ReLU, Softmax, LeakyReLU, ELU. The plan runs the
activation itself on the layer's input (see plan.py), so a final Softmax folds into the loss like Dense's
would. Any rank of input: activations work on the last axis."""
from numbanet import activations
from numbanet.backend import rows
from numbanet.layers.base import Layer


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        # 'linear' leaves nothing for the plan to run: the layer copies its input instead.
        self.computes = self.activation.identity

    def forward(self, x, out, ctx):
        ctx.k.add_backward(rows(out), rows(x))  # a copy: only 'linear' gets here

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.add_backward(rows(dx), rows(dout))

    def get_config(self):
        config = super().get_config()
        config['activation'] = activations.serialize(self.activation)
        return config

    def extra_repr(self):
        return f"activation={self.activation.name}"


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


class LeakyReLU(Activation):
    """Keras's LeakyReLU layer: x for x > 0, negative_slope * x below (the layer's default slope is 0.3; the
    'leaky_relu' activation's is 0.2, as in Keras)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(activations.LeakyReLU(negative_slope=negative_slope), **kwargs)

    @property
    def negative_slope(self):
        return self.activation.negative_slope

    def get_config(self):
        return {**Layer.get_config(self), 'negative_slope': self.negative_slope}


class ELU(Activation):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(activations.ELU(alpha=alpha), **kwargs)

    @property
    def alpha(self):
        return self.activation.alpha

    def get_config(self):
        return {**Layer.get_config(self), 'alpha': self.alpha}
