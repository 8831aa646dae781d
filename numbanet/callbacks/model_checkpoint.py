"""ModelCheckpoint: save the model (or its weights) during training, every epoch, every n batches or only
when the monitored value improves. Files are written atomically by model.save / model.save_weights."""
import os
import string
import warnings

from numbanet import saving
from numbanet.callbacks.monitor import MonitorCallback, check_verbose
from numbanet.checks import positive_int


class SaveFrequency:
    """save_freq of ModelCheckpoint and BackupAndRestore: 'epoch', or a positive int of training batches."""

    def __init__(self, save_freq, owner):
        if save_freq != 'epoch':
            save_freq = positive_int(save_freq, f"{owner}'s save_freq (an int of batches, or 'epoch')")
        self.every, self.batches = save_freq, 0

    def batch_due(self):
        """Count a training batch: True when an int save_freq says to save now."""
        if self.every == 'epoch':
            return False
        self.batches += 1
        if self.batches < self.every:
            return False
        self.batches = 0
        return True


class ModelCheckpoint(MonitorCallback):
    """Keras's ModelCheckpoint. filepath may name `{epoch}` (counted from 1), `{batch}` (with an int
    save_freq) and any logged value, with a format: 'ckpt-{epoch:02d}-{val_loss:.2f}.safetensors'. A key that
    is never logged is refused at the first save, naming what is logged."""

    def __init__(self, filepath, monitor='val_loss', verbose=0, save_best_only=False, save_weights_only=False,
                 mode='auto', save_freq='epoch', initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.filepath = os.fspath(filepath)
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(self.filepath) if field is not None]
        except ValueError as e:
            raise ValueError(f"ModelCheckpoint's filepath {self.filepath!r} is not a valid format string: {e}") \
                from None
        if any(field == '' or field.isdigit() for field in fields):
            raise ValueError(f"ModelCheckpoint's filepath {self.filepath!r} has a positional field ('{{}}'); "
                             f"name what goes there, e.g. '{{epoch:02d}}' or '{{val_loss:.2f}}'")
        saving.check_suffix(self.filepath)  # a .keras or .h5 name is refused now, not at the first epoch's end
        self.verbose = check_verbose(verbose, 'ModelCheckpoint')
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.frequency = SaveFrequency(save_freq, 'ModelCheckpoint')
        self.save_freq = self.frequency.every
        self.epoch = 0

    def on_train_begin(self, logs=None):
        if self.save_best_only:
            self.resolve_mode()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.frequency.batch_due():
            self.save(self.epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == 'epoch':
            self.save(epoch, None, logs)

    def file_path(self, epoch, batch, logs):
        values = {'epoch': epoch + 1, **({} if batch is None else {'batch': batch + 1}), **(logs or {})}
        try:
            return self.filepath.format(**values)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint cannot fill in filepath {self.filepath!r}: {{{e.args[0]}}} is not "
                           f"logged; it can name {sorted(values)}") from None
        except (ValueError, TypeError, AttributeError, IndexError) as e:
            raise ValueError(f"ModelCheckpoint cannot fill in filepath {self.filepath!r} with {values}: {e}") \
                from None

    def save(self, epoch, batch, logs):
        filepath = self.file_path(epoch, batch, logs)
        if self.save_best_only:
            current = (logs or {}).get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available; saving anyway "
                              f"(logged values are {sorted(logs or {})})", UserWarning, stacklevel=3)
            else:
                best = 'None' if self.best is None else f"{self.best:.5f}"
                if not self.is_improvement(current, self.best):
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
                    return
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                          f"saving model to {filepath}")
                self.best = current
        elif self.verbose:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint's filepath {filepath!r} is a directory; give a file path")
        # As Keras's callback does, and unlike a plain save: a checkpoint folder need not exist beforehand.
        os.makedirs(os.path.dirname(filepath) or '.', exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
