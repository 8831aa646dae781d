"""BackupAndRestore: a fit killed with SIGKILL in the middle of an epoch resumes, when the program runs again,
at the epoch it reached, and ends with weights bitwise equal to an uninterrupted run's."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

import numbanet
from numbanet import callbacks, saving
from tests.helpers import ROOT, blobs, mlp

# Dropout (masks seeded by the step count), BatchNormalization (state outside the optimizer), Adam (moments
# and step count), shuffling (the model's generator) and a schedule (the learning rate) all have to come back.
PROGRAM = '''
import json, os, signal, sys
import numpy as np
import numbanet
from numbanet import callbacks, layers

backup_dir, out, kill_epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.standard_normal((96, 6)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
model = numbanet.Sequential([layers.Input(shape=(6,)), layers.Dense(8, activation='relu'), layers.Dropout(0.3),
                             layers.BatchNormalization(), layers.Dense(2, activation='softmax')], seed=7)
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])


class Kill(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == kill_epoch and batch == 1:
            os.kill(os.getpid(), signal.SIGKILL)


history = model.fit(x, y, batch_size=16, epochs=6, validation_split=0.25, verbose=0, callbacks=[
    callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9), callbacks.BackupAndRestore(backup_dir), Kill()])
model.save_weights(out)
with open(out + '.json', 'w') as f:
    json.dump({'epochs': history.epoch, 'lr': model.optimizer.learning_rate}, f)
'''


def run(tmp_path, backup, out, kill_epoch=-1):
    script = tmp_path / 'program.py'
    script.write_text(PROGRAM)
    # NUMBA_CACHE_DIR is inherited: the kernels the program needs were compiled once, by the first run.
    return subprocess.run([sys.executable, str(script), str(backup), str(out), str(kill_epoch)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_a_killed_fit_resumes_where_it_stopped_and_ends_bitwise_equal(tmp_path):
    ref = run(tmp_path, tmp_path / 'backup-ref', tmp_path / 'ref.safetensors')
    assert ref.returncode == 0, ref.stderr
    backup = tmp_path / 'backup'
    killed = run(tmp_path, backup, tmp_path / 'resumed.safetensors', kill_epoch=3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    saved = saving.SavedModel(backup / 'latest.safetensors')
    assert saved.training['epoch'] == 3 and saved.iterations == 3 * 5  # 72 training rows: 5 steps an epoch
    resumed = run(tmp_path, backup, tmp_path / 'resumed.safetensors')
    assert resumed.returncode == 0, resumed.stderr
    with open(tmp_path / 'resumed.safetensors.json') as f, open(tmp_path / 'ref.safetensors.json') as g:
        got, want = json.load(f), json.load(g)
    assert got['epochs'] == [3, 4, 5] and want['epochs'] == list(range(6))
    assert got['lr'] == want['lr']
    got, want = load_file(tmp_path / 'resumed.safetensors'), load_file(tmp_path / 'ref.safetensors')
    assert sorted(got) == sorted(want) and len(got) == 8  # two Dense layers' 4, BatchNorm's scale, shift and stats
    for name in want:
        assert got[name].tobytes() == want[name].tobytes(), name
    assert not backup.exists()  # delete_checkpoint=True: a finished fit leaves nothing behind


def interrupted_fit(model, x, labels, backup, at_epoch, at_batch, **kwargs):
    class Interrupt(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == (at_epoch, at_batch):
                raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, labels, epochs=5, batch_size=16, verbose=0,
                  callbacks=[callbacks.BackupAndRestore(backup, **kwargs), Interrupt()])


@pytest.mark.parametrize('rebuild', [False, True])
def test_resuming_in_the_same_process_with_the_same_or_a_rebuilt_model(rng, tmp_path, rebuild):
    x, labels = blobs(rng, n=64)
    reference = mlp(seed=3)
    reference.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    reference.fit(x, labels, epochs=5, batch_size=16, verbose=0)

    model = mlp(seed=3)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    interrupted_fit(model, x, labels, tmp_path / 'b', at_epoch=2, at_batch=1)
    if rebuild:  # new layer names: the backup's weights load in order
        model = mlp(seed=3)
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    history = model.fit(x, labels, epochs=5, batch_size=16, verbose=0,
                        callbacks=[callbacks.BackupAndRestore(tmp_path / 'b')])
    assert history.epoch == [2, 3, 4]
    for a, b in zip(model.get_weights(), reference.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_a_backup_every_n_batches_resumes_at_the_start_of_its_epoch(rng, tmp_path):
    x, labels = blobs(rng, n=64)
    model = mlp()
    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')
    interrupted_fit(model, x, labels, tmp_path / 'b', at_epoch=1, at_batch=2, save_freq=2)
    saved = saving.SavedModel(tmp_path / 'b' / 'latest.safetensors')
    assert saved.training['epoch'] == 1 and saved.iterations == 4 + 2  # saved after the 6th batch
    history = model.fit(x, labels, epochs=5, batch_size=16, verbose=0, callbacks=[
        callbacks.BackupAndRestore(tmp_path / 'b', save_freq=2, delete_checkpoint=False)])
    assert history.epoch == [1, 2, 3, 4] and model.optimizer.iterations == 6 + 4 * 4
    assert os.path.exists(tmp_path / 'b' / 'latest.safetensors')  # delete_checkpoint=False keeps it
    history = model.fit(x, labels, epochs=5, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / 'b')])
    assert history.epoch == []  # the backup says all five epochs are done


@pytest.mark.parametrize('hidden, optimizer, match', [
    ((8,), numbanet.optimizers.Adam(0.05), r"state for \d+ parameters, the model has \d+: it is another model's"),
    ((8, 20), numbanet.optimizers.Adam(0.05), r"missing tensor|shape"),  # as many parameters, other shapes
    ((16, 8), numbanet.optimizers.SGD(0.05), r"\['m', 'v'\] was saved by another optimizer \(this SGD keeps"),
])
def test_a_backup_that_does_not_fit_is_refused_before_anything_changes(rng, tmp_path, hidden, optimizer, match):
    x, labels = blobs(rng, n=64)
    model = mlp(seed=3)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    interrupted_fit(model, x, labels, tmp_path / 'b', at_epoch=1, at_batch=0)
    model = mlp(hidden=hidden, seed=4)
    model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy')
    before, state = model.get_weights(), model.rng.bit_generator.state
    with pytest.raises(saving.SavedFileError, match=match):
        model.fit(x, labels, epochs=5, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / 'b')])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    assert model.rng.bit_generator.state == state and model.optimizer.iterations == 0
    assert model.optimizer.learning_rate == 0.05


def test_a_backup_whose_generator_state_is_damaged_is_refused(rng, tmp_path):
    # A negative uinteger makes numpy raise OverflowError, not ValueError: refused by name all the same.
    from safetensors import safe_open
    from safetensors.numpy import save_file
    x, labels = blobs(rng, n=64)
    model = mlp(seed=3)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    interrupted_fit(model, x, labels, tmp_path / 'b', at_epoch=1, at_batch=0)
    path = str(tmp_path / 'b' / 'latest.safetensors')
    with safe_open(path, framework='np') as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    meta['rng_state'] = json.dumps({**json.loads(meta['rng_state']), 'uinteger': -5})
    save_file(tensors, path, metadata=meta)
    model = mlp(seed=3)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    before, state = model.get_weights(), model.rng.bit_generator.state
    with pytest.raises(saving.SavedFileError, match="shuffling generator's state"):
        model.fit(x, labels, epochs=5, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / 'b')])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    assert model.rng.bit_generator.state == state and model.optimizer.iterations == 0
