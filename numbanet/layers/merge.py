"""Layers that merge several inputs: Add (a residual connection) and Concatenate."""
from numbanet.layers.base import Layer, require_vector


class Add(Layer):
    """Elementwise sum of two or more inputs of one shape."""

    single_input = False

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"layer '{self.name}' adds at least two inputs, got {len(input_shape)}")
        if any(s != input_shape[0] for s in input_shape):
            raise ValueError(f"layer '{self.name}' needs inputs of one shape, got {list(input_shape)}")
        require_vector(self, input_shape[0])

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def forward(self, inputs, out, ctx):
        ctx.k.add_forward(out, inputs[0], inputs[1])
        for extra in inputs[2:]:
            ctx.k.add_forward(out, out, extra)

    def backward(self, inputs, out, dout, dinputs, ctx):
        for dinp in dinputs:
            if dinp is not None:
                ctx.k.add_backward(dinp, dout)


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
            require_vector(self, s)

    def compute_output_shape(self, input_shape):
        return (sum(s[0] for s in input_shape),)

    def forward(self, inputs, out, ctx):
        offset = 0
        for inp in inputs:
            ctx.k.concat_forward(out, inp, offset)
            offset += inp.shape[1]

    def backward(self, inputs, out, dout, dinputs, ctx):
        offset = 0
        for inp, dinp in zip(inputs, dinputs):
            if dinp is not None:
                ctx.k.concat_backward(dinp, dout, offset)
            offset += inp.shape[1]

    def get_config(self):
        config = super().get_config()
        config['axis'] = self.axis
        return config
