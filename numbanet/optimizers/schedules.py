"""Keras's learning-rate schedules: callables step -> rate. An optimizer given one evaluates it on the host
at every step with its iteration count (0 for the first step), as Keras does; `optimizer.learning_rate`
then reads the current value. Each schedule's get_config() rebuilds it, so a saved model keeps it."""
import math
import numbers

from numbanet.checks import is_number


def _number(value, what, low=0.0, strict=False):
    if not is_number(value) or not math.isfinite(value) or value < low or (strict and value == low):
        raise ValueError(f"{what} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _flag(value, what):
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be True or False, got {value!r}")
    return value


class LearningRateSchedule:
    """The base of schedules: subclasses define __call__(step) and get_config()."""

    def __call__(self, step):
        raise NotImplementedError(f"learning-rate schedule '{type(self).__name__}' must define __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"learning-rate schedule '{type(self).__name__}' must define get_config() "
                                  f"to be saved")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ^ (step / decay_steps); staircase: the exponent is floored."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name='ExponentialDecay'):
        self.initial_learning_rate = _number(initial_learning_rate, 'initial_learning_rate')
        self.decay_steps = _number(decay_steps, 'decay_steps', strict=True)
        self.decay_rate = _number(decay_rate, 'decay_rate', strict=True)
        self.staircase = _flag(staircase, 'staircase')
        self.name = name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self):
        return {'initial_learning_rate': self.initial_learning_rate, 'decay_steps': self.decay_steps,
                'decay_rate': self.decay_rate, 'staircase': self.staircase, 'name': self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i], and
    values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name='PiecewiseConstant'):
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)) \
                or len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay needs a list of boundaries and a list of values one longer, "
                             f"got boundaries={boundaries!r} and values={values!r}")
        self.boundaries = [_number(b, 'each boundary', low=-math.inf) for b in boundaries]
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must increase strictly, got {boundaries!r}")
        self.values = [_number(v, 'each value') for v in values]
        self.name = name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {'boundaries': self.boundaries, 'values': self.values, 'name': self.name}


class InverseTimeDecay(LearningRateSchedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps); staircase: step / decay_steps floored."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name='InverseTimeDecay'):
        self.initial_learning_rate = _number(initial_learning_rate, 'initial_learning_rate')
        self.decay_steps = _number(decay_steps, 'decay_steps', strict=True)
        self.decay_rate = _number(decay_rate, 'decay_rate')
        self.staircase = _flag(staircase, 'staircase')
        self.name = name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1.0 + self.decay_rate * (math.floor(p) if self.staircase else p))

    def get_config(self):
        return {'initial_learning_rate': self.initial_learning_rate, 'decay_steps': self.decay_steps,
                'decay_rate': self.decay_rate, 'staircase': self.staircase, 'name': self.name}


class CosineDecay(LearningRateSchedule):
    """Without warmup_target: from initial_learning_rate down to alpha times it along half a cosine over
    decay_steps, then constant. With it: first linearly from initial_learning_rate to warmup_target over
    warmup_steps, then the cosine from warmup_target."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name='CosineDecay', warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = _number(initial_learning_rate, 'initial_learning_rate')
        self.decay_steps = _number(decay_steps, 'decay_steps', strict=True)
        self.alpha = _number(alpha, 'alpha')
        if self.alpha > 1:
            raise ValueError(f"alpha (the final rate as a fraction of the first) must be in [0, 1], got {alpha!r}")
        self.name = name
        self.warmup_target = None if warmup_target is None else _number(warmup_target, 'warmup_target')
        self.warmup_steps = _number(warmup_steps, 'warmup_steps')

    def _decayed(self, step, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decayed(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {'initial_learning_rate': self.initial_learning_rate, 'decay_steps': self.decay_steps,
                'alpha': self.alpha, 'name': self.name, 'warmup_target': self.warmup_target,
                'warmup_steps': self.warmup_steps}


class PolynomialDecay(LearningRateSchedule):
    """(initial_learning_rate - end_learning_rate) * (1 - step / decay_steps) ^ power + end_learning_rate,
    with step held at decay_steps after it; cycle: decay_steps grows to the first multiple of itself not
    below step, so the decay starts again."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name='PolynomialDecay'):
        self.initial_learning_rate = _number(initial_learning_rate, 'initial_learning_rate')
        self.decay_steps = _number(decay_steps, 'decay_steps', strict=True)
        self.end_learning_rate = _number(end_learning_rate, 'end_learning_rate')
        self.power = _number(power, 'power')
        self.cycle = _flag(cycle, 'cycle')
        self.name = name

    def __call__(self, step):
        if self.cycle:
            steps = self.decay_steps * (1 if step == 0 else math.ceil(step / self.decay_steps))
        else:
            steps, step = self.decay_steps, min(step, self.decay_steps)
        return ((self.initial_learning_rate - self.end_learning_rate) * (1.0 - step / steps) ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return {'initial_learning_rate': self.initial_learning_rate, 'decay_steps': self.decay_steps,
                'end_learning_rate': self.end_learning_rate, 'power': self.power, 'cycle': self.cycle,
                'name': self.name}


CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, InverseTimeDecay, CosineDecay,
                                         PolynomialDecay)}


def serialize(schedule):
    """{'class': name, 'config': get_config()} of a schedule; a plain callable has nothing to write."""
    if not isinstance(schedule, LearningRateSchedule):
        raise ValueError(f"learning_rate {schedule!r} is a plain callable, which cannot be saved; use a "
                         f"numbanet.optimizers.schedules object, or set a number before saving")
    return {'class': type(schedule).__name__, 'config': schedule.get_config()}


def deserialize(entry):
    """The schedule that serialize() described."""
    if not isinstance(entry, dict) or entry.get('class') not in CLASSES or not isinstance(entry.get('config'), dict):
        raise ValueError(f"unknown learning-rate schedule {entry!r}; numbanet rebuilds its own: {sorted(CLASSES)}")
    return CLASSES[entry['class']].from_config(entry['config'])
