"""Weight initialisers under Keras's names. Each takes (shape, rng) and returns float32 values."""
import numpy as np


def _fans(shape):
    if len(shape) == 0:  # a scalar
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    # A convolution kernel (..., in, out): every tap of the receptive field counts, as in Keras.
    field = int(np.prod(shape[:-2]))
    return shape[-2] * field, shape[-1] * field


def _truncated_normal(shape, stddev, rng):
    # Keras draws from a normal cut at two standard deviations; redraw what falls outside.
    values = rng.standard_normal(shape)
    bad = np.abs(values) > 2.0
    while bad.any():
        values[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(values) > 2.0
    # 0.8796... is the standard deviation of a unit normal truncated at +-2.
    return (values * (stddev / 0.87962566103423978)).astype(np.float32)


def glorot_uniform(shape, rng):
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def glorot_normal(shape, rng):
    fan_in, fan_out = _fans(shape)
    return _truncated_normal(shape, np.sqrt(2.0 / (fan_in + fan_out)), rng)


def he_uniform(shape, rng):
    limit = np.sqrt(6.0 / _fans(shape)[0])
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def he_normal(shape, rng):
    return _truncated_normal(shape, np.sqrt(2.0 / _fans(shape)[0]), rng)


def zeros(shape, rng):
    return np.zeros(shape, np.float32)


def ones(shape, rng):
    return np.ones(shape, np.float32)


_BY_NAME = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, zeros, ones)}


def get(identifier):
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"unknown initializer {identifier!r}; choose one of {sorted(_BY_NAME)} or pass a "
                     f"callable (shape, rng) -> array")


def name_of(initializer):
    return getattr(initializer, '__name__', repr(initializer))
