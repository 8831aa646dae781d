"""ProgbarLogger: fit's, evaluate's and predict's progress output (progress.py draws it)."""
import sys

from numbanet.callbacks.callback import Callback
from numbanet.progress import ProgressBar


class ProgbarLogger(Callback):
    """verbose=1 (params['verbose']): an 'Epoch i/n' header (when n > 1) and a progress bar per epoch;
    verbose=2: exactly one line per epoch, 'Epoch i/n - 469/469 - 2s - 4ms/step - loss: ...', no bar.
    Inside fit the validation pass prints nothing of its own: its results end the epoch's line."""

    def __init__(self):
        super().__init__()
        self.bar = None
        self.seen = 0
        self.in_fit = False

    def on_train_begin(self, logs=None):
        self.in_fit = True

    def on_train_end(self, logs=None):
        self.in_fit = False
        if self.bar is not None:
            self.bar.unwatch()  # an epoch that stopped early never finished its bar

    def _start(self, prefix=''):
        self.seen = 0
        self.bar = ProgressBar(self.params['steps'], sys.stdout, self.params['verbose'], prefix,
                               watch_compiles=self.in_fit)

    def _update(self, batch, logs):
        self.seen = batch + 1
        self.bar.update(self.seen, logs)

    def _finish(self, logs):
        if self.bar.target is None:  # steps None: a generator's length, known now that it has ended
            self.bar.target = self.seen
        self.bar.update(self.bar.target, logs or {}, finished=True)

    def on_epoch_begin(self, epoch, logs=None):
        header = f"Epoch {epoch + 1}/{self.params['epochs']}" if self.params['epochs'] > 1 else ''
        if header and self.params['verbose'] == 1:
            sys.stdout.write(header + '\n')
        self._start(header + ' - ' if header and self.params['verbose'] == 2 else '')

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self.in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self.in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self.in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, {})

    def on_predict_end(self, logs=None):
        self._finish({})
