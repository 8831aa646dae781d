"""Optimizers, thin objects over the update kernels. State lives in flat buffers shaped like the
model's flat parameter buffer, so one kernel call updates every weight."""
import math

from numbanet.backend import write
from numbanet.checks import is_number


def _rate(value, what):
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _fraction(value, what, upper_open=True):
    if not is_number(value) or not (
            0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        bounds = '[0, 1)' if upper_open else '[0, 1]'
        raise ValueError(f"{what} must be in {bounds}, got {value!r}")
    return float(value)


class Optimizer:
    def __init__(self, learning_rate, name):
        self.learning_rate = learning_rate
        self.name = name
        self.iterations = 0
        self.buffer = None  # the flat parameter buffer (Parameters.values) the state was made for
        self._views = []

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _rate(value, 'learning_rate')

    def build(self, parameters, ranges):
        """Make state for these parameters (again, when they are not the ones it was made for) and the
        views one step updates: one (lo, hi) range of the flat buffer per run of trainable weights, so that
        a step is one kernel call per range and allocates nothing."""
        if self.buffer is not parameters.values:
            self.buffer = parameters.values
            self.iterations = 0
            self._make_state(parameters.backend, parameters.values.shape[0])
        params, grads = parameters.values, parameters.grads
        slots = list(self.state_arrays().values())
        self._views = [(params[lo:hi], grads[lo:hi], *(s[lo:hi] for s in slots)) for lo, hi in ranges]

    def apply(self, k):
        self.iterations += 1
        for views in self._views:
            self._update(k, *views)

    def state_for(self, parameters):
        """{slot: array} when this optimizer holds state for these parameters, else None."""
        return self.state_arrays() if self.buffer is not None and self.buffer is parameters.values else None

    def state_arrays(self):
        """The optimizer's state, slot name -> array shaped like the flat parameter buffer."""
        return {}

    def load_state(self, state, iterations):
        own = self.state_arrays()
        if set(state) != set(own):
            raise ValueError(f"optimizer state has slots {sorted(state)}, {type(self).__name__} keeps {sorted(own)}")
        for slot, array in state.items():
            write(own[slot], array)
        self.iterations = int(iterations)

    def get_config(self):
        return {'name': self.name, 'learning_rate': self.learning_rate}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class SGD(Optimizer):
    """Keras's SGD: velocity = momentum * velocity - lr * g; w += velocity (Nesterov: w += momentum *
    velocity - lr * g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name='SGD'):
        super().__init__(learning_rate, name)
        self.momentum = _fraction(momentum, 'momentum', upper_open=False)
        self.nesterov = bool(nesterov)

    def _make_state(self, backend, size):
        self.velocity = backend.zeros(size)

    def state_arrays(self):
        return {'velocity': self.velocity}

    def _update(self, k, params, grads, velocity):
        k.sgd_update(params, velocity, grads, self.learning_rate, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), 'momentum': self.momentum, 'nesterov': self.nesterov}


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name='adam'):
        super().__init__(learning_rate, name)
        self.beta_1 = _fraction(beta_1, 'beta_1')
        self.beta_2 = _fraction(beta_2, 'beta_2')
        self.epsilon = _rate(epsilon, 'epsilon')

    def _make_state(self, backend, size):
        self.m = backend.zeros(size)
        self.v = backend.zeros(size)

    def state_arrays(self):
        return {'m': self.m, 'v': self.v}

    def _update(self, k, params, grads, m, v):
        k.adam_update(params, m, v, grads, self.learning_rate, self.beta_1, self.beta_2, self.epsilon,
                      self.iterations)

    def get_config(self):
        return {**super().get_config(), 'beta_1': self.beta_1, 'beta_2': self.beta_2, 'epsilon': self.epsilon}


_BY_NAME = {'adam': Adam, 'sgd': SGD}
CLASSES = {'Adam': Adam, 'SGD': SGD}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; choose 'adam' or 'sgd', or pass a "
                     f"numbanet.optimizers object")
