"""Weight penalties under Keras's names: L1, L2, L1L2. A regularized weight adds l1 * sum|w| + l2 * sum w^2
to the loss fit reports, and its gradient to the weight's in every step (kernels/cpu/regularizer.py)."""
import math

from numbanet.checks import is_number


class Regularizer:
    def __call__(self, k, values):
        """The penalty of these values (a flat array on the model's device)."""
        raise NotImplementedError


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _factor(l1, 'l1'), _factor(l2, 'l2')

    def __call__(self, k, values):
        return k.regularizer_forward(values, self.l1, self.l2)

    def add_gradient(self, k, grads, values):
        k.regularizer_backward(grads, values, self.l1, self.l2)

    def get_config(self):
        return {'l1': self.l1, 'l2': self.l2}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {'l1': self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {'l2': self.l2}


def _factor(value, what):
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


CLASSES = {'L1': L1, 'L2': L2, 'L1L2': L1L2}
_BY_NAME = {'l1': L1, 'l2': L2, 'l1_l2': lambda: L1L2(l1=0.01, l2=0.01)}


def get(identifier):
    """None, a regularizer, its name ('l1', 'l2', 'l1_l2' with Keras's default factors) or serialize()'s dict."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get('class') in CLASSES and isinstance(identifier.get('config'), dict):
        return CLASSES[identifier['class']](**identifier['config'])
    raise ValueError(f"regularizer must be None, one of {sorted(_BY_NAME)}, or a numbanet.regularizers object, "
                     f"got {identifier!r}")


def serialize(regularizer):
    return None if regularizer is None else {'class': type(regularizer).__name__, 'config': regularizer.get_config()}
