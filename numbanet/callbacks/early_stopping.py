"""Callbacks that end training: EarlyStopping when the monitored value stops improving, TerminateOnNaN on a
loss that is not finite."""
import math

from numbanet.callbacks.callback import Callback
from numbanet.callbacks.monitor import MonitorCallback, check_verbose
from numbanet.checks import non_negative_int


class EarlyStopping(MonitorCallback):
    """Keras's EarlyStopping: stop once `monitor` has not improved by more than min_delta for `patience`
    epochs (counting from start_from_epoch). With a baseline, an epoch that does not beat the baseline does
    not reset the patience. restore_best_weights=True sets the weights of the best epoch when training ends
    (stopped early or not)."""

    def __init__(self, monitor='val_loss', min_delta=0, patience=0, verbose=0, mode='auto', baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, baseline, min_delta)
        self.patience = non_negative_int(patience, "EarlyStopping's patience")
        self.verbose = check_verbose(verbose, 'EarlyStopping')
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = non_negative_int(start_from_epoch, "EarlyStopping's start_from_epoch")
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.resolve_mode()
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored(logs, 'Early stopping')
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience starts over only for a value that also beats the baseline.
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training at a batch whose loss is NaN or infinite (raise_error=True raises a RuntimeError
    instead, so no on_train_end runs). numbanet's fit also stops by itself on such a loss, keeping the
    weights of the last finite step; this callback adds Keras's message, or the error."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get('loss')
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               f"Terminating training immediately.")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
