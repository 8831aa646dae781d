"""Callbacks under Keras's names: hooks fit, evaluate and predict call at the edges of training, epochs and
batches. callback.py holds the base class and the hook list; each family of callbacks has a file."""
from numbanet.callbacks.backup_and_restore import BackupAndRestore
from numbanet.callbacks.callback import Callback, History, LambdaCallback
from numbanet.callbacks.callback_list import CallbackList
from numbanet.callbacks.csv_logger import CSVLogger
from numbanet.callbacks.early_stopping import EarlyStopping, TerminateOnNaN
from numbanet.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from numbanet.callbacks.model_checkpoint import ModelCheckpoint
from numbanet.callbacks.progbar_logger import ProgbarLogger

__all__ = ['BackupAndRestore', 'CSVLogger', 'Callback', 'CallbackList', 'EarlyStopping', 'History', 'LambdaCallback',
           'LearningRateScheduler', 'ModelCheckpoint', 'ProgbarLogger', 'ReduceLROnPlateau', 'TerminateOnNaN']
