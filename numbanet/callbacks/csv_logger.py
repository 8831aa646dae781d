"""CSVLogger: one row per epoch (the epoch, counted from 0, then every logged value in name order)."""
import csv
import io
import os

from numbanet.callbacks.callback import Callback
from numbanet.files import write_atomic


class CSVLogger(Callback):
    """Keras's CSVLogger. append=True keeps what the file holds (a header only if it was empty). The whole
    file is rewritten atomically after each epoch, so a crash leaves the rows of the finished epochs."""

    def __init__(self, filename, separator=',', append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger's separator must be one character, got {separator!r}")
        self.sep = separator
        self.append = bool(append)
        self.text, self.keys = '', None

    def on_train_begin(self, logs=None):
        if os.path.isdir(self.filename):
            raise IsADirectoryError(f"CSVLogger's filename {self.filename!r} is a directory; give a file path")
        self.text, self.keys = '', None
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline='', encoding='utf-8') as f:
                self.text = f.read()
            if self.text and not self.text.endswith('\n'):
                self.text += '\n'

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.sep, lineterminator='\n')
        if self.keys is None:
            self.keys = sorted(logs)
            if not self.text:
                writer.writerow(['epoch'] + self.keys)
        writer.writerow([epoch] + [logs.get(key, 'NA') for key in self.keys])
        self.text += out.getvalue()
        write_atomic(self.filename, self.text.encode('utf-8'))
