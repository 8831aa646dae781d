"""Activation functions under Keras's names, each a pair of kernel calls.

A layer holds one in `layer.activation`; the plan runs it after the layer's own forward and before its
backward, so no layer computes activations itself. The plan hands it (rows, features) views of any rank
of array, so an activation works on the last axis. The output layer's activation is the plan's *head*:
a loss may fold it into itself (softmax into cross-entropy, sigmoid into binary cross-entropy).
"""
import math

from numbanet.checks import is_number


class Activation:
    """forward(k, out, inp) and backward(k, dinp, dout, inp, out), on 2-D arrays; dinp is overwritten."""

    identity = False
    defaults = {}  # the parameters and Keras's defaults for them

    def __init__(self, name, **params):
        self.name = name
        for key, default in self.defaults.items():
            setattr(self, key, params.pop(key, default))
        if params:
            raise TypeError(f"activation '{name}' takes no argument(s) {sorted(params)}")
        # The kernels' names and extra arguments, worked out once: these calls are on the training path.
        self.args = tuple(getattr(self, key) for key in self.defaults)
        self.forward_kernel, self.backward_kernel = f'{name}_forward', f'{name}_backward'
        self._frozen = True

    def __setattr__(self, key, value):
        if getattr(self, '_frozen', False):  # layers share activation objects: a change would reach them all
            raise AttributeError(f"activation '{self.name}' cannot be changed; make a new one")
        super().__setattr__(key, value)

    @property
    def params(self):
        return {key: getattr(self, key) for key in self.defaults}

    def forward(self, k, out, inp):
        getattr(k, self.forward_kernel)(out, inp, *self.args)

    def backward(self, k, dinp, dout, inp, out):
        raise NotImplementedError

    def __eq__(self, other):
        return type(other) is type(self) and other.name == self.name and other.params == self.params

    def __hash__(self):
        return hash((self.name, tuple(self.params.items())))

    def __repr__(self):
        args = ''.join(f', {k}={v!r}' for k, v in self.params.items())
        return f"<activation {self.name}{args}>"


class Linear(Activation):
    identity = True  # the plan runs nothing for it


# Three kinds of backward: from the output alone, from the input alone, or from both.
class _FromOutput(Activation):
    def backward(self, k, dinp, dout, inp, out):
        getattr(k, self.backward_kernel)(dinp, dout, out)


class _FromInput(Activation):
    def backward(self, k, dinp, dout, inp, out):
        getattr(k, self.backward_kernel)(dinp, dout, inp, *self.args)


class _FromBoth(Activation):
    def backward(self, k, dinp, dout, inp, out):
        getattr(k, self.backward_kernel)(dinp, dout, inp, out, *self.args)


class GELU(_FromInput):
    defaults = {'approximate': False}

    def __init__(self, name='gelu', approximate=False):
        super().__init__(name, approximate=bool(approximate))


class LeakyReLU(_FromInput):
    defaults = {'negative_slope': 0.2}

    def __init__(self, name='leaky_relu', negative_slope=0.2):
        super().__init__(name, negative_slope=_finite(negative_slope, 'negative_slope'))


class ELU(_FromBoth):
    defaults = {'alpha': 1.0}

    def __init__(self, name='elu', alpha=1.0):
        super().__init__(name, alpha=_finite(alpha, 'alpha'))


def _finite(value, what):
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


linear = Linear('linear')
relu = _FromOutput('relu')
softmax = _FromOutput('softmax')
sigmoid = _FromOutput('sigmoid')
tanh = _FromOutput('tanh')
exponential = _FromOutput('exponential')
selu = _FromBoth('selu')
softplus = _FromInput('softplus')
softsign = _FromInput('softsign')
silu = _FromInput('silu')
hard_sigmoid = _FromInput('hard_sigmoid')
gelu = GELU()
leaky_relu = LeakyReLU()
elu = ELU()

_BY_NAME = {a.name: a for a in (linear, relu, softmax, sigmoid, tanh, exponential, selu, softplus, softsign, silu,
                                hard_sigmoid, gelu, leaky_relu, elu)}
_BY_NAME['swish'] = silu
_MAKERS = {'gelu': GELU, 'leaky_relu': LeakyReLU, 'elu': ELU}


def get(identifier):
    """An activation from its name (None means linear), a {'name': ..., <parameters>} dict, or the object."""
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    if isinstance(identifier, dict) and isinstance(identifier.get('name'), str):
        params = {k: v for k, v in identifier.items() if k != 'name'}
        if identifier['name'] in _MAKERS:
            return _MAKERS[identifier['name']](**params)
        if identifier['name'] in _BY_NAME and not params:
            return _BY_NAME[identifier['name']]
    raise ValueError(f"activation must be one of {sorted(_BY_NAME)} or None, got {identifier!r}")


def serialize(activation):
    """The name, or a dict with the parameters when they are not Keras's defaults."""
    if activation.params == type(activation).defaults:
        return activation.name
    return {'name': activation.name, **activation.params}
