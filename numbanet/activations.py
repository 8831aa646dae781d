"""Activation functions under Keras's names, each a pair of kernel calls.

A layer holds one in `layer.activation`; the plan runs it after the layer's own forward and before its
backward, so no layer computes activations itself. The output layer's activation is the plan's *head*:
a loss may fold it into itself (softmax into cross-entropy) and train on the values beneath it.
"""


class Activation:
    """forward(k, out, inp) and backward(k, dinp, dout, inp, out); dinp is overwritten."""

    identity = False

    def __init__(self, name):
        self.name = name

    def forward(self, k, out, inp):
        raise NotImplementedError

    def backward(self, k, dinp, dout, inp, out):
        raise NotImplementedError

    def __repr__(self):
        return f"<activation {self.name}>"


class Linear(Activation):
    identity = True  # the plan runs nothing for it


class ReLU(Activation):
    def forward(self, k, out, inp):
        k.relu_forward(out, inp)

    def backward(self, k, dinp, dout, inp, out):
        k.relu_backward(dinp, dout, out)


class Softmax(Activation):
    """Over the last axis."""

    def forward(self, k, out, inp):
        k.softmax_forward(out, inp)

    def backward(self, k, dinp, dout, inp, out):
        k.softmax_backward(dinp, dout, out)


linear = Linear('linear')
relu = ReLU('relu')
softmax = Softmax('softmax')

_BY_NAME = {a.name: a for a in (linear, relu, softmax)}


def get(identifier):
    """An activation from its name (None means linear), or the object itself."""
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"activation must be one of {sorted(_BY_NAME)} or None, got {identifier!r}")


def serialize(activation):
    return activation.name
