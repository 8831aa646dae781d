"""Callbacks that set the optimizer's learning rate between epochs. Both add the epoch's rate to its logs
as 'learning_rate', so History and the progress line show it."""
import math

import numpy as np

from numbanet.callbacks.callback import Callback
from numbanet.callbacks.monitor import MonitorCallback, check_number, check_verbose
from numbanet.checks import non_negative_int


class ReduceLROnPlateau(MonitorCallback):
    """Keras's ReduceLROnPlateau: after `patience` epochs without an improvement of `monitor` by more than
    min_delta, multiply the learning rate by `factor` (never below min_lr), then wait `cooldown` epochs."""

    def __init__(self, monitor='val_loss', factor=0.1, patience=10, verbose=0, mode='auto', min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, None, min_delta)
        factor = check_number(factor, 'factor', 'ReduceLROnPlateau')
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor outside [0, 1), got factor={factor}")
        self.factor = factor
        self.patience = non_negative_int(patience, "ReduceLROnPlateau's patience")
        self.verbose = check_verbose(verbose, 'ReduceLROnPlateau')
        self.cooldown = non_negative_int(cooldown, "ReduceLROnPlateau's cooldown")
        self.min_lr = check_number(min_lr, 'min_lr', 'ReduceLROnPlateau')
        if self.min_lr < 0:
            raise ValueError(f"ReduceLROnPlateau's min_lr must be >= 0, got {min_lr!r}")
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.resolve_mode()
        self.wait = self.cooldown_counter = 0
        self.best = None

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        logs = {} if logs is None else logs
        logs['learning_rate'] = float(optimizer.learning_rate)
        current = self.monitored(logs, 'Learning rate reduction')
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            old_lr = float(optimizer.learning_rate)
            if self.wait >= self.patience and old_lr > np.float32(self.min_lr):
                new_lr = max(old_lr * self.factor, self.min_lr)
                optimizer.learning_rate = new_lr
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Keras's LearningRateScheduler: at the start of every epoch the learning rate becomes
    schedule(epoch, learning_rate), epoch counted from 0; the schedule must return a finite float >= 0."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler's schedule must be a function (epoch, lr) -> lr, "
                            f"got {schedule!r}")
        self.schedule = schedule
        self.verbose = check_verbose(verbose, 'LearningRateScheduler')

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.schedule(epoch, float(self.model.optimizer.learning_rate))
        if not isinstance(lr, (float, np.floating)) or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler's schedule must return a finite float >= 0; at epoch "
                             f"{epoch} it returned {lr!r}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs['learning_rate'] = float(self.model.optimizer.learning_rate)
