"""Keras's optimizers, thin objects over the update kernels (kernels/cpu/<name>.py and their CUDA twins),
and their learning-rate schedules (numbanet.optimizers.schedules)."""
from numbanet.optimizers import schedules
from numbanet.optimizers.adam import Adam, Adamax, AdamW, Nadam
from numbanet.optimizers.base import Optimizer
from numbanet.optimizers.sgd import SGD, Adagrad, RMSprop

CLASSES = {cls.__name__: cls for cls in (SGD, RMSprop, Adagrad, Adam, AdamW, Adamax, Nadam)}
_BY_NAME = {name.lower(): cls for name, cls in CLASSES.items()}


def get(identifier):
    """An optimizer object as it is, or a new one with Keras's defaults by name ('adam', 'sgd', 'rmsprop',
    'adamw', 'adagrad', 'adamax', 'nadam')."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; choose one of {', '.join(repr(n) for n in _BY_NAME)}, "
                     f"or pass a numbanet.optimizers object")


__all__ = ['Optimizer', 'SGD', 'RMSprop', 'Adagrad', 'Adam', 'AdamW', 'Adamax', 'Nadam', 'schedules', 'get',
           'CLASSES']
