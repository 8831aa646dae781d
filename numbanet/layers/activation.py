"""Layers that are an activation alone: Activation(name), ReLU, Softmax. The plan runs the activation
itself on the layer's input (see plan.py), so a final Softmax folds into the loss like Dense's would."""
from numbanet import activations
from numbanet.layers.base import Layer, require_vector


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        # 'linear' leaves nothing for the plan to run: the layer copies its input instead.
        self.computes = self.activation.identity

    def build(self, input_shape):
        require_vector(self, input_shape)

    def forward(self, x, out, ctx):
        ctx.k.add_backward(out, x)  # a copy: only 'linear' gets here

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.add_backward(dx, dout)

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
