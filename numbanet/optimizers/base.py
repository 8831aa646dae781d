"""The optimizer contract, over flat buffers: state lives in arrays shaped like the model's flat parameter
buffer, so one kernel call updates a whole run of weights. The base class holds what every Keras optimizer
shares: the learning rate (a number, or a schedule evaluated at each step), gradient clipping (clipnorm,
clipvalue, global_clipnorm) and decoupled weight decay, applied in Keras's order inside apply(): clip the
gradients, decay the weights (w -= lr * weight_decay * w), then the optimizer's own update; a step that
would make any weight or state value non-finite is refused whole (kernels/cpu/_guard.py)."""
import math

import numpy as np

from numbanet.backend import write
from numbanet.checks import is_number
from numbanet.optimizers import schedules


def check_rate(value, what):
    """value as a float: a finite number >= 0."""
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_epsilon(value):
    """epsilon as a float: finite and > 0. At 0 a weight whose gradient and second moment are 0 would be
    updated by 0 / 0: NaN."""
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"epsilon must be a finite number > 0 (at 0, a zero gradient gives 0 / 0 = NaN weights), "
                         f"got {value!r}")
    return float(value)


def check_fraction(value, what, closed=False):
    """value as a float in [0, 1) (closed: [0, 1])."""
    if not is_number(value) or not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
        raise ValueError(f"{what} must be in {'[0, 1]' if closed else '[0, 1)'}, got {value!r}")
    return float(value)


def _positive_or_none(value, what):
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite number > 0 or None, got {value!r}")
    return float(value)


def _scheduled(schedule, step):
    rate = schedule(step)
    if not is_number(rate) or not math.isfinite(rate) or rate < 0:
        raise ValueError(f"the learning rate {schedule!r} gives at step {step} must be a finite number >= 0, "
                         f"got {rate!r}")
    return float(rate)


class Optimizer:
    """Keyword arguments of every optimizer, as in Keras: weight_decay (w -= lr * weight_decay * w before
    each update), and at most one of clipnorm (each weight's gradient scaled to an L2 norm of at most this),
    clipvalue (each gradient element clipped to [-clipvalue, clipvalue]) and global_clipnorm (all gradients
    scaled together to a global L2 norm of at most this)."""

    def __init__(self, learning_rate, name, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        clips = {'clipnorm': clipnorm, 'clipvalue': clipvalue, 'global_clipnorm': global_clipnorm}
        given = [f'{k}={v!r}' for k, v in clips.items() if v is not None]
        if len(given) > 1:
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {', '.join(given)}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = (_positive_or_none(v, k) for k, v in clips.items())
        self.weight_decay = None if weight_decay is None else check_rate(weight_decay, 'weight_decay')
        self.name = name
        self.iterations = 0
        self.learning_rate = learning_rate
        self.buffer = None  # the flat parameter buffer (Parameters.values) the state was made for
        self._quick_steps = None
        self._state = {}
        self._views = []

    @property
    def learning_rate(self):
        """The rate the next step uses: with a schedule, its value at `iterations` (0 before the first step)."""
        return self._learning_rate if self._schedule is None else _scheduled(self._schedule, self.iterations)

    @learning_rate.setter
    def learning_rate(self, value):
        """A number (which replaces any schedule), a numbanet.optimizers.schedules object, or any callable
        step -> rate; a callable is tried at the current step first, so a bad one fails here."""
        if callable(value):
            try:
                _scheduled(value, self.iterations)
            except (ValueError, TypeError) as e:
                raise ValueError(f"a learning_rate callable must take the step (an int) and return a rate; "
                                 f"{value!r}({self.iterations}): {e}") from None
            self._schedule, self._learning_rate = value, None
        else:
            self._learning_rate, self._schedule = check_rate(value, 'learning_rate'), None

    @property
    def schedule(self):
        """What learning_rate follows, a schedule or callable; None when it is a number."""
        return self._schedule

    def build(self, parameters, ranges):
        """Make state for these parameters (again, when they are not the ones it was made for) and the
        views one step works on: one (lo, hi) range of the flat buffers per run of trainable weights, so
        that a step is one kernel call per range and allocates nothing."""
        if self.buffer is not parameters.values:
            self.buffer = parameters.values
            self.iterations = 0
            be, size = parameters.backend, parameters.values.shape[0]
            self._state = {slot: be.empty(size) for slot in self._slots()}
            for slot, value in self._slots().items():
                be.fill(self._state[slot], value)
            self._backend, self._refused = be, be.zeros(1, np.int32)  # the check kernels' flag, set on refusal
            self._quick_steps = 0  # steps applied on the quick pass since the state was made (None: never again)
        params, grads = parameters.values, parameters.grads
        self._views = [(params[lo:hi], grads[lo:hi], {s: a[lo:hi] for s, a in self._state.items()})
                       for lo, hi in ranges]
        # What clipping by norm scales together: each weight's gradient, or all of them.
        inside = lambda a, b: any(lo <= a and b <= hi for lo, hi in ranges)  # noqa: E731
        per_weight = [[grads[a:b]] for a, b in parameters.weight_ranges() if inside(a, b)]
        self._norm_groups = (per_weight if self.clipnorm is not None else
                             [[g for _, g, _ in self._views]] if self.global_clipnorm is not None else [])

    def apply(self, k):
        """One step with the gradients in the flat buffer, run by the kernels in k, applied whole or not at
        all: returns False, having written nothing (weights, state, iterations), when any new weight or state
        value would be non-finite. Every range is checked before any is written."""
        lr, step = self.learning_rate, self.iterations + 1
        if self.clipvalue is not None:
            for _, grads, _ in self._views:
                k.clip_values(grads, self.clipvalue)
        limit = self.clipnorm or self.global_clipnorm
        for group in self._norm_groups:
            norm = math.sqrt(sum(k.squared_norm(g) for g in group))
            if not norm <= limit:  # a NaN norm scales by NaN, as in Keras: the check refuses the step
                for g in group:
                    k.scale_values(g, limit / norm)
        decay = 1.0 - lr * self.weight_decay if self.weight_decay else 1.0
        calls = [self._step(k, lr, step, params, grads, slots) for params, grads, slots in self._views]
        # The quick pass: weights and gradients within bounds that, with the state's own bounds, prove the step
        # finite (quick_bounds). Else, or when a value is out of them, the full check decides, exactly.
        bounds = None if self._quick_steps is None else self.quick_bounds(lr, step, decay, self._quick_steps + 1)
        self._backend.fill(self._refused, 0)
        for params, grads, _ in (self._views if bounds is not None else ()):
            k.bounds_check(self._refused, params, grads, *bounds)
        quick = bounds is not None and not self._backend.to_host(self._refused)[0]
        if not quick:
            self._backend.fill(self._refused, 0)
            for check, _, args in calls:
                check(self._refused, *args, decay)
            if self._backend.to_host(self._refused)[0]:
                return False
        if self.weight_decay:
            for params, _, _ in self._views:
                k.scale_values(params, decay)
        for _, update, args in calls:
            update(*args)
        self.iterations = step
        # A step the quick pass did not prove leaves the state's bounds unknown: full checks from then on.
        self._quick_steps = self._quick_steps + 1 if quick else None
        return True

    def quick_bounds(self, lr, step, decay, steps):
        """(weight bound, gradient bound) such that, when every weight and gradient lies within them and every
        step since the state was made (all zeros) did too, this step's new weights and state are finite; steps
        counts this one. None (the default): no such proof, every step takes the full check."""
        return None

    def state_written(self):
        """Call after writing into state_arrays() directly: the state's bounds are then unknown."""
        self._quick_steps = None

    def _slots(self):
        """{slot: initial value} of the state kept per parameter."""
        return {}

    def _step(self, k, lr, step, params, grads, slots):
        """(check kernel, update kernel, their arguments) for one range at step `step` (from 1)."""
        raise NotImplementedError(f"{type(self).__name__} must define _step(k, lr, step, params, grads, slots)")

    def state_for(self, parameters):
        """{slot: array} when this optimizer holds state for these parameters, else None."""
        return self.state_arrays() if self.buffer is not None and self.buffer is parameters.values else None

    def state_arrays(self):
        """The optimizer's state, slot name -> array shaped like the flat parameter buffer."""
        return dict(self._state)

    def load_state(self, state, iterations):
        own = self.state_arrays()
        if set(state) != set(own):
            raise ValueError(f"optimizer state has slots {sorted(state)}, {type(self).__name__} keeps {sorted(own)}")
        for slot, array in state.items():
            write(own[slot], array)
        self.iterations = int(iterations)
        self.state_written()

    def _settings(self):
        """The optimizer's own settings, for get_config."""
        return {}

    def get_config(self):
        rate = self._learning_rate if self._schedule is None else schedules.serialize(self._schedule)
        return {'name': self.name, 'learning_rate': rate, **self._settings(), 'weight_decay': self.weight_decay,
                'clipnorm': self.clipnorm, 'global_clipnorm': self.global_clipnorm, 'clipvalue': self.clipvalue}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get('learning_rate'), dict):
            config['learning_rate'] = schedules.deserialize(config['learning_rate'])
        return cls(**config)

    def __repr__(self):
        rate = self._learning_rate if self._schedule is None else self._schedule
        extra = {k: getattr(self, k) for k in ('weight_decay', 'clipnorm', 'clipvalue', 'global_clipnorm')
                 if getattr(self, k) is not None}
        settings = {'name': self.name, 'learning_rate': rate, **self._settings(), **extra}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"
