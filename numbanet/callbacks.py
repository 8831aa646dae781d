"""Callbacks under Keras's names: hooks fit() calls at the edges of epochs and batches."""
import math
import sys
import warnings

from numbanet.progress import ProgressBar


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass


class History(Callback):
    """What fit() returns: history.history['loss'] etc., one value per epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


class ProgbarLogger(Callback):
    """verbose=1: an 'Epoch i/n' header and a progress line; verbose=2: one line per epoch."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        stream = self.stream or sys.stdout
        stream.write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")
        self.bar = ProgressBar(self.params['steps'], stream)
        if self.verbose == 2:
            self.bar.interactive = False

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.params['steps'], dict(logs or {}), finished=True)


class EarlyStopping(Callback):
    """Stop when a monitored value stops improving, optionally restoring the best weights."""

    def __init__(self, monitor='val_loss', min_delta=0.0, patience=0, mode='auto', restore_best_weights=False):
        super().__init__()
        if mode not in ('auto', 'min', 'max'):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == 'auto':
            mode = 'max' if 'acc' in monitor else 'min'
        self.monitor, self.patience, self.mode = monitor, int(patience), mode
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = restore_best_weights
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = math.inf if self.mode == 'min' else -math.inf
        self.best_weights = None

    def _improved(self, value):
        if self.mode == 'min':
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"EarlyStopping monitors '{self.monitor}', which fit did not report "
                          f"(available: {sorted(logs or {})})", RuntimeWarning, stacklevel=2)
            return
        if self._improved(value):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)


class CallbackList:
    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be numbanet.callbacks.Callback objects, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith('on_'):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call
