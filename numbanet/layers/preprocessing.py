"""Preprocessing inside the model: Rescaling, so images can stay uint8 (a quarter of float32's memory) until
each batch is gathered and scaled here, as Keras users write Rescaling(1 / 255)."""
import math

from numbanet.backend import rows
from numbanet.checks import is_number
from numbanet.layers.base import Layer


class Rescaling(Layer):
    """Keras's Rescaling: out = x * scale + offset in float32, any rank; no weights."""

    def __init__(self, scale, offset=0.0, **kwargs):
        for what, value in (('scale', scale), ('offset', offset)):
            if not is_number(value) or not math.isfinite(value):
                raise ValueError(f"Rescaling {what} must be a finite number, got {value!r}")
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x, out, ctx):
        ctx.k.rescale_forward(rows(out), rows(x), self.scale, self.offset)

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            ctx.k.rescale_backward(rows(dx), rows(dout), self.scale)

    def get_config(self):
        return {**super().get_config(), 'scale': self.scale, 'offset': self.offset}

    def extra_repr(self):
        return f"scale={self.scale:g}, offset={self.offset:g}"
