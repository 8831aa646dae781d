"""What EarlyStopping, ReduceLROnPlateau and ModelCheckpoint share: watching one value of the epoch's logs,
and knowing whether a new value is better."""
import math
import warnings

from numbanet import metrics
from numbanet.callbacks.callback import Callback
from numbanet.checks import is_number
from numbanet.outputs import OutputLoss

_FALLING = (metrics.MeanSquaredError, metrics.MeanAbsoluteError)  # every other built-in metric rises


def check_verbose(verbose, owner):
    if verbose not in (0, 1):
        raise ValueError(f"{owner}'s verbose must be 0 or 1, got {verbose!r}")
    return int(verbose)


def check_number(value, what, owner, allow_none=False):
    if value is None and allow_none:
        return None
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{owner}'s {what} must be a finite number, got {value!r}")
    return float(value)


class MonitorCallback(Callback):
    """monitor: a key of the epoch's logs ('val_loss', 'accuracy', ...). mode 'min' or 'max' says which way
    is better; 'auto' works it out as Keras does: a loss falls, a metric goes the way its kind goes (an
    accuracy rises, an error falls); anything else needs mode='min' or 'max', and is refused when fit
    begins. An improvement beats the best so far by more than min_delta."""

    def __init__(self, monitor='val_loss', mode='auto', baseline=None, min_delta=0.0):
        super().__init__()
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{owner}'s monitor must be the name of a logged value such as 'val_loss', "
                             f"got {monitor!r}")
        if mode not in ('auto', 'min', 'max'):
            raise ValueError(f"{owner}'s mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.baseline = check_number(baseline, 'baseline', owner, allow_none=True)
        self.min_delta = abs(check_number(min_delta, 'min_delta', owner))
        self.lower_is_better = None  # settled when training begins, from mode and the model's metrics
        self.best = self.baseline

    def resolve_mode(self):
        if self.mode != 'auto':
            self.lower_is_better = self.mode == 'min'
            return
        name = self.monitor.removeprefix('val_')
        found = next((m for m in self.model.compiled_metrics if m.name == name), None)
        while hasattr(found, 'metric'):  # a metric of one output, or a weighted one: the metric inside decides
            found = found.metric
        if name == 'loss' or isinstance(found, OutputLoss):
            self.lower_is_better = True
        elif type(found) in metrics.CLASSES.values():
            self.lower_is_better = isinstance(found, _FALLING)
        else:
            raise ValueError(f"{type(self).__name__} cannot tell whether '{self.monitor}' should rise or fall: "
                             f"pass mode='max' or mode='min'")

    def is_improvement(self, value, reference):
        if reference is None:
            return True
        if self.lower_is_better:
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def monitored(self, logs, what):
        """The monitored value from logs, or None with a warning naming what is logged."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{what} is conditioned on '{self.monitor}', which is not logged; logged values are "
                          f"{sorted(logs or {})}", UserWarning, stacklevel=3)
        return value
