"""BackupAndRestore: a fit that was killed resumes, when the program runs again, where it stood.

At the end of every epoch one model file is written atomically (saving.save_model): the weights, pruning
masks, optimizer state and step count, the model's shuffling generator, and in its metadata the epoch to
resume at and the learning rate. A run killed at any moment finds either the previous backup or the new
one, whole. When fit begins and a backup exists, all of it is checked against the model, then restored,
and fit starts at the saved epoch: the final weights are bit for bit those of an uninterrupted run.
Callbacks with state of their own (EarlyStopping's patience, ReduceLROnPlateau's counters) start afresh,
as in Keras.
"""
import math
import os

import numpy as np

from numbanet import saving
from numbanet.callbacks.callback import Callback
from numbanet.callbacks.model_checkpoint import SaveFrequency

BACKUP_FILE = 'latest.safetensors'


class BackupAndRestore(Callback):
    """Keras's BackupAndRestore(backup_dir, save_freq='epoch', delete_checkpoint=True). backup_dir holds this
    callback's file and nothing else. With an int save_freq the backup is also written every save_freq
    batches; a run resumed from such a backup restarts the interrupted epoch from its first batch, with the
    weights saved in the middle of it (as Keras does), so only a backup from an epoch's end resumes exactly.
    delete_checkpoint=True removes the backup when fit ends normally."""

    def __init__(self, backup_dir, save_freq='epoch', delete_checkpoint=True):
        super().__init__()
        backup_dir = os.fspath(backup_dir)
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir, got an empty path")
        self.backup_dir = backup_dir
        self.path = os.path.join(backup_dir, BACKUP_FILE)
        self.frequency = SaveFrequency(save_freq, 'BackupAndRestore')
        self.save_freq = self.frequency.every
        self.delete_checkpoint = bool(delete_checkpoint)
        self.epoch = 0

    def on_train_begin(self, logs=None):
        if os.path.exists(self.path):
            self.restore()

    def restore(self):
        """Everything in the backup, checked before any of it is written into the model."""
        model, optimizer, path = self.model, self.model.optimizer, self.path
        saved = saving.SavedModel(path)
        redo = f"; delete {self.backup_dir} to start training afresh"
        training = saved.training if isinstance(saved.training, dict) else {}
        epoch, lr = training.get('epoch'), training.get('learning_rate')
        if type(epoch) is not int or epoch < 0 or type(lr) is not float or not math.isfinite(lr) or lr < 0:
            raise saving.SavedFileError(f"{path}: not a BackupAndRestore backup (no valid epoch and learning "
                                        f"rate in its metadata){redo}")
        own = optimizer.state_for(model.parameters) or {}
        state = saved.optimizer_state
        if set(state) != set(own):
            raise saving.SavedFileError(f"{path}: the optimizer state {sorted(state)} was saved by another optimizer "
                                        f"(this {type(optimizer).__name__} keeps {sorted(own)}){redo}")
        sizes = {array.shape for array in state.values()}
        if sizes - {(model.parameters.values.shape[0],)}:
            raise saving.SavedFileError(f"{path}: holds optimizer state for {sizes.pop()[0]} parameters, the model "
                                        f"has {model.parameters.values.shape[0]}: it is another model's backup{redo}")
        rng = np.random.Generator(type(model.rng.bit_generator)())
        try:
            rng.bit_generator.state = saved.rng_state
        except (TypeError, ValueError, KeyError, OverflowError) as e:  # OverflowError: a negative uinteger
            raise saving.SavedFileError(f"{path}: the shuffling generator's state does not fit the model's "
                                        f"({type(e).__name__}: {e}){redo}") from None
        model.load_weights(path)  # by name, else in order (a model rebuilt in the same process); all checked
        optimizer.load_state(state, saved.iterations)
        if optimizer.schedule is None:  # a schedule recomputes the rate from the restored step count
            optimizer.learning_rate = lr
        model.rng.bit_generator.state = rng.bit_generator.state
        model.initial_epoch_override = epoch

    def save(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        saving.save_model(self.model, self.path,
                          training={'epoch': self.epoch, 'learning_rate': float(self.model.optimizer.learning_rate)})

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.frequency.batch_due():
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.save()  # with an int save_freq too: a finished epoch always resumes exactly

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        try:  # another process of a distributed fit may have removed them first
            os.remove(self.path)
            os.rmdir(self.backup_dir)  # only when nothing else is in it
        except OSError:
            pass
