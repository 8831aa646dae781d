"""Callbacks: each one's Keras behaviour on tiny models, the hooks fit/evaluate/predict call, the progress
output, and bad arguments refused before anything changes. BackupAndRestore is in test_backup_restore.py."""
import csv
import os

import numpy as np
import pytest

import numbanet
from numbanet import callbacks, layers
from numbanet.models import load_model
from tests.helpers import blobs, mlp


def compiled(optimizer='adam', metrics=('accuracy',), seed=0):
    model = mlp(seed=seed)
    model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy', metrics=list(metrics))
    return model


def same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


class Scores(callbacks.Callback):
    """Puts a chosen value under 'score' in each epoch's logs, for the callbacks after it to watch."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs['score'] = self.values[epoch]


# ---- EarlyStopping ---------------------------------------------------------------------------------------------
def test_early_stopping_stops_when_the_loss_stops_improving(rng):
    x, labels = blobs(rng, n=100)
    model = compiled(numbanet.optimizers.SGD(0.0))
    stop = callbacks.EarlyStopping(monitor='loss', patience=1)
    history = model.fit(x, labels, epochs=10, callbacks=[stop], verbose=0, shuffle=False)
    assert len(history.epoch) == 2 and stop.stopped_epoch == 1  # lr 0: no improvement after the first epoch


def test_early_stopping_restores_best_weights(rng):
    x, labels = blobs(rng, n=100)
    model = compiled(numbanet.optimizers.SGD(0.5), metrics=())
    best = {}

    class Spy(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = (logs['val_loss'], self.model.get_weights())
    # A validation set the model cannot learn: val_loss rises once training fits the training set.
    val_x = rng.standard_normal((50, 12)).astype(np.float32) * 3
    stop = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model.fit(x, labels, epochs=30, validation_data=(val_x, rng.integers(0, 5, 50)), callbacks=[Spy(), stop],
              verbose=0)
    assert stop.stopped_epoch > 0
    assert same_weights(model.get_weights(), min(best.values(), key=lambda v: v[0])[1])


@pytest.mark.parametrize('kwargs, epochs_run', [
    ({}, 3),                         # epoch 0 is the best; epochs 1 and 2 exhaust a patience of 2
    ({'baseline': 0.0}, 2),          # no epoch beats the baseline: patience counts from the first epoch
    ({'start_from_epoch': 3}, 6),    # epochs 0-2 are not watched at all
])
def test_early_stopping_baseline_and_start_from_epoch(rng, kwargs, epochs_run):
    x, labels = blobs(rng, n=60)
    model = compiled(numbanet.optimizers.SGD(0.0))  # every epoch's loss is exactly the first's
    history = model.fit(x, labels, epochs=20, shuffle=False, verbose=0,
                        callbacks=[callbacks.EarlyStopping(monitor='loss', patience=2, **kwargs)])
    assert len(history.epoch) == epochs_run


def test_early_stopping_min_delta_and_mode(rng):
    x, labels = blobs(rng, n=60)
    model = compiled()
    scores = [1.0, 1.05, 1.08, 1.5, 1.5]
    stop = callbacks.EarlyStopping(monitor='score', mode='max', min_delta=0.1, patience=1)
    history = model.fit(x, labels, epochs=5, verbose=0, callbacks=[Scores(scores), stop])
    assert len(history.epoch) == 2 and stop.best == 1.0  # +0.05 is no improvement by more than 0.1


def test_early_stopping_verbose_prints_keras_messages(rng, capsys):
    x, labels = blobs(rng, n=60)
    model = compiled(numbanet.optimizers.SGD(0.0))
    model.fit(x, labels, epochs=5, shuffle=False, verbose=0, callbacks=[
        callbacks.EarlyStopping(monitor='loss', patience=1, verbose=1, restore_best_weights=True)])
    assert capsys.readouterr().out.splitlines() == [
        'Epoch 2: early stopping', 'Restoring model weights from the end of the best epoch: 1.']


def test_monitor_direction_follows_keras_auto_mode(rng):
    x, labels = blobs(rng, n=60)
    model = mlp()
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    for monitor, lower in (('val_loss', True), ('accuracy', False), ('val_accuracy', False)):
        stop = callbacks.EarlyStopping(monitor=monitor)
        model.fit(x, labels, epochs=1, verbose=0, callbacks=[stop], validation_split=0.2)
        assert stop.lower_is_better is lower, monitor
    model = numbanet.Sequential([layers.Input(shape=(12,)), layers.Dense(1)], seed=0)
    model.compile(optimizer='sgd', loss='mse', metrics=['mae'])
    stop = callbacks.EarlyStopping(monitor='mae')
    model.fit(x, labels.astype(np.float32)[:, None], epochs=1, verbose=0, callbacks=[stop])
    assert stop.lower_is_better is True


def test_a_monitor_auto_mode_cannot_place_is_refused_before_training(rng, tmp_path):
    x, labels = blobs(rng, n=60)
    model = compiled()
    before = model.get_weights()
    path = tmp_path / 'never.safetensors'
    for cb in (callbacks.EarlyStopping(monitor='score'), callbacks.ReduceLROnPlateau(monitor='score'),
               callbacks.ModelCheckpoint(path, monitor='score', save_best_only=True)):
        with pytest.raises(ValueError, match="'score'.*mode='max' or mode='min'"):
            model.fit(x, labels, epochs=1, verbose=0, callbacks=[cb])
    assert same_weights(model.get_weights(), before) and model.optimizer.iterations == 0
    assert not path.exists()


def test_a_monitored_value_that_is_not_logged_warns_with_what_is(rng):
    x, labels = blobs(rng, n=60)
    model = compiled()
    with pytest.warns(UserWarning, match=r"'val_loss', which is not logged; logged values are \['accuracy', 'loss'\]"):
        history = model.fit(x, labels, epochs=2, verbose=0, callbacks=[callbacks.EarlyStopping()])
    assert len(history.epoch) == 2


@pytest.mark.parametrize('make, match', [
    (lambda: callbacks.EarlyStopping(mode='maximum'), "mode must be 'auto', 'min' or 'max', got 'maximum'"),
    (lambda: callbacks.EarlyStopping(patience=-1), 'patience must be a non-negative int, got -1'),
    (lambda: callbacks.EarlyStopping(patience=1.5), 'patience must be a non-negative int, got 1.5'),
    (lambda: callbacks.EarlyStopping(baseline=float('nan')), 'baseline must be a finite number, got nan'),
    (lambda: callbacks.EarlyStopping(min_delta='0.1'), "min_delta must be a finite number, got '0.1'"),
    (lambda: callbacks.EarlyStopping(verbose=2), 'verbose must be 0 or 1, got 2'),
    (lambda: callbacks.EarlyStopping(monitor=None), 'monitor must be the name of a logged value'),
    (lambda: callbacks.EarlyStopping(start_from_epoch=-2), 'start_from_epoch must be a non-negative int'),
    (lambda: callbacks.ReduceLROnPlateau(factor=1.0), r'factor outside \[0, 1\), got factor=1.0'),
    (lambda: callbacks.ReduceLROnPlateau(factor=-0.5), r'factor outside \[0, 1\)'),
    (lambda: callbacks.ReduceLROnPlateau(min_lr=-1), 'min_lr must be >= 0, got -1'),
    (lambda: callbacks.ReduceLROnPlateau(cooldown=-1), 'cooldown must be a non-negative int'),
    (lambda: callbacks.ReduceLROnPlateau(mode='up'), "mode must be 'auto', 'min' or 'max', got 'up'"),
    (lambda: callbacks.ModelCheckpoint('m.safetensors', mode='best'), "mode must be 'auto', 'min' or 'max'"),
    (lambda: callbacks.ModelCheckpoint('m.safetensors', save_freq=0), 'save_freq .* must be a positive int'),
    (lambda: callbacks.ModelCheckpoint('m.safetensors', save_freq='batch'), "save_freq .* got 'batch'"),
    (lambda: callbacks.ModelCheckpoint('m-{epoch.safetensors'), 'not a valid format string'),
    (lambda: callbacks.ModelCheckpoint('m-{}.safetensors'), 'positional field'),
    (lambda: callbacks.ModelCheckpoint('m.safetensors', verbose=5), 'verbose must be 0 or 1, got 5'),
    (lambda: callbacks.CSVLogger('log.csv', separator=', '), "separator must be one character, got ', '"),
    (lambda: callbacks.BackupAndRestore(''), 'needs a backup_dir'),
    (lambda: callbacks.BackupAndRestore('b', save_freq=-3), 'save_freq .* must be a positive int, got -3'),
])
def test_bad_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize('make, match', [
    (lambda: callbacks.ModelCheckpoint(None), 'PathLike'),
    (lambda: callbacks.LearningRateScheduler(0.1), "schedule must be a function"),
    (lambda: callbacks.LambdaCallback(on_epoch_end=3), "on_epoch_end must be a function, got 3"),
    (lambda: callbacks.LambdaCallback(on_epoch_finish=print), "unknown hook 'on_epoch_finish'"),
])
def test_bad_argument_types_are_refused(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_fit_refuses_what_is_not_a_callback(rng):
    x, labels = blobs(rng, n=60)
    model = compiled()
    for bad, name in (([object()], 'object'), ('EarlyStopping', 'str')):
        with pytest.raises(TypeError, match=f'Callback objects, got {name}'):
            model.fit(x, labels, epochs=1, verbose=0, callbacks=bad)
    assert model.optimizer.iterations == 0


# ---- ModelCheckpoint -------------------------------------------------------------------------------------------
def test_model_checkpoint_refuses_a_keras_file_name_when_made(tmp_path):
    # Found at construction, not after the first epoch's training.
    for name in ('ckpt-{epoch:02d}.keras', 'w.weights.h5'):
        with pytest.raises(ValueError, match='numbanet writes safetensors'):
            callbacks.ModelCheckpoint(str(tmp_path / name))


def test_model_checkpoint_formats_epoch_and_logs_into_the_path(rng, tmp_path):
    x, labels = blobs(rng, n=60)
    model = compiled()
    seen = {}
    keep = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.update({epoch: model.get_weights()}))
    path = str(tmp_path / 'ckpt' / 'm-{epoch:02d}-{loss:.3f}.safetensors')
    history = model.fit(x, labels, epochs=3, verbose=0,
                        callbacks=[callbacks.ModelCheckpoint(path, monitor='loss'), keep])
    names = sorted(os.listdir(tmp_path / 'ckpt'))
    assert names == [f"m-{e + 1:02d}-{history.history['loss'][e]:.3f}.safetensors" for e in range(3)]
    for epoch, name in enumerate(names):
        assert same_weights(load_model(tmp_path / 'ckpt' / name).get_weights(), seen[epoch])


def test_model_checkpoint_save_best_only_saves_improvements(rng, tmp_path, capsys):
    x, labels = blobs(rng, n=60)
    model = compiled()
    scores = [0.5, 0.7, 0.6, 0.9, 0.9]
    path = str(tmp_path / 'best-{epoch}.safetensors')
    model.fit(x, labels, epochs=5, verbose=0, callbacks=[
        Scores(scores), callbacks.ModelCheckpoint(path, monitor='score', mode='max', save_best_only=True, verbose=1)])
    assert sorted(os.listdir(tmp_path)) == ['best-1.safetensors', 'best-2.safetensors', 'best-4.safetensors']
    out = [line for line in capsys.readouterr().out.splitlines() if line]
    assert out[0] == f"Epoch 1: score improved from None to 0.50000, saving model to {tmp_path}/best-1.safetensors"
    assert out[2] == "Epoch 3: score did not improve from 0.70000"


def test_model_checkpoint_initial_value_threshold_and_weights_only(rng, tmp_path):
    x, labels = blobs(rng, n=60)
    model = compiled()
    path = tmp_path / 'w.safetensors'
    check = callbacks.ModelCheckpoint(path, monitor='score', mode='max', save_best_only=True,
                                      save_weights_only=True, initial_value_threshold=0.8)
    model.fit(x, labels, epochs=3, verbose=0, callbacks=[Scores([0.5, 0.9, 0.7]), check])
    assert check.best == 0.9
    fresh = mlp(seed=5)
    fresh.load_weights(path)  # a weights file: load_model refuses it
    with pytest.raises(ValueError, match='weights only'):
        load_model(path)
    assert not same_weights(fresh.get_weights(), model.get_weights())  # saved after epoch 2, not at the end


def test_model_checkpoint_every_n_batches(rng, tmp_path):
    x, labels = blobs(rng, n=64)
    model = compiled()
    model.fit(x, labels, epochs=2, batch_size=16, verbose=0,
              callbacks=[callbacks.ModelCheckpoint(str(tmp_path / 'e{epoch}-b{batch}.safetensors'), save_freq=3)])
    # 4 batches an epoch, a save every 3rd batch: batches 3 of epoch 1, then 2 of epoch 2 (the 6th batch).
    assert sorted(os.listdir(tmp_path)) == ['e1-b3.safetensors', 'e2-b2.safetensors']


def test_model_checkpoint_names_a_key_that_is_not_logged(rng, tmp_path):
    x, labels = blobs(rng, n=60)
    model = compiled()
    check = callbacks.ModelCheckpoint(str(tmp_path / 'm-{val_los:.2f}.safetensors'))
    with pytest.raises(KeyError, match=r"\{val_los\} is not logged; it can name \['accuracy', 'epoch', 'loss', "
                                       r"'val_accuracy', 'val_loss'\]"):
        model.fit(x, labels, epochs=2, verbose=0, validation_split=0.25, callbacks=[check])
    assert os.listdir(tmp_path) == []


def test_model_checkpoint_refuses_a_directory_and_leaves_no_partial_file(rng, tmp_path):
    x, labels = blobs(rng, n=60)
    model = compiled()
    (tmp_path / 'dir.safetensors').mkdir()
    with pytest.raises(IsADirectoryError, match='is a directory'):
        model.fit(x, labels, epochs=1, verbose=0,
                  callbacks=[callbacks.ModelCheckpoint(str(tmp_path / 'dir.safetensors'))])
    model.fit(x, labels, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(tmp_path / 'm.safetensors')])
    assert sorted(os.listdir(tmp_path)) == ['dir.safetensors', 'm.safetensors']  # no temporary file left


# ---- learning rate ---------------------------------------------------------------------------------------------
def test_reduce_lr_on_plateau_follows_keras(rng, capsys):
    x, labels = blobs(rng, n=60)
    model = compiled(numbanet.optimizers.SGD(0.1))
    scores = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    reduce = callbacks.ReduceLROnPlateau(monitor='score', mode='min', factor=0.5, patience=1, cooldown=2, min_lr=0.02,
                                         min_delta=0, verbose=1)
    history = model.fit(x, labels, epochs=7, verbose=0, callbacks=[Scores(scores), reduce])
    # Logged before each epoch's reduction; the cooldown holds the rate for two epochs after each cut.
    assert history.history['learning_rate'] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]
    assert model.optimizer.learning_rate == 0.02
    assert 'Epoch 2: ReduceLROnPlateau reducing learning rate to 0.05.' in capsys.readouterr().out


def test_learning_rate_scheduler_sets_the_rate_the_optimizer_uses(rng):
    x, labels = blobs(rng, n=60)
    model = compiled(numbanet.optimizers.SGD(0.1))
    history = model.fit(x, labels, epochs=3, verbose=0,
                        callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert history.history['learning_rate'] == [0.05, 0.025, 0.0125]
    before = model.get_weights()
    model.fit(x, labels, epochs=2, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 0.0)])
    assert same_weights(model.get_weights(), before)  # a rate of 0 moves nothing: the optimizer took it


@pytest.mark.parametrize('bad', [1, float('nan'), float('inf'), -0.1, '0.1', None])
def test_learning_rate_scheduler_refuses_a_bad_rate_before_the_epoch_trains(rng, bad):
    x, labels = blobs(rng, n=60)
    model = compiled(numbanet.optimizers.SGD(0.1))
    before = model.get_weights()
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: bad)
    with pytest.raises(ValueError, match=r'must return a finite float >= 0; at epoch 0 it returned'):
        model.fit(x, labels, epochs=2, verbose=0, callbacks=[schedule])
    assert same_weights(model.get_weights(), before) and model.optimizer.learning_rate == 0.1


# ---- CSVLogger ---------------------------------------------------------------------------------------------------
def test_csv_logger_writes_one_row_per_epoch_and_appends(rng, tmp_path):
    x, labels = blobs(rng, n=60)
    model = compiled()
    path = tmp_path / 'log.csv'
    history = model.fit(x, labels, epochs=2, verbose=0, validation_split=0.25,
                        callbacks=[callbacks.CSVLogger(path, separator=';')])
    with open(path, newline='') as f:
        rows = list(csv.reader(f, delimiter=';'))
    assert rows[0] == ['epoch', 'accuracy', 'loss', 'val_accuracy', 'val_loss']
    assert [int(r[0]) for r in rows[1:]] == [0, 1]
    assert [float(r[4]) for r in rows[1:]] == history.history['val_loss']
    model.fit(x, labels, epochs=1, verbose=0, validation_split=0.25,
              callbacks=[callbacks.CSVLogger(path, separator=';', append=True)])
    with open(path, newline='') as f:
        assert len(list(csv.reader(f, delimiter=';'))) == 4  # one header, three rows
    model.fit(x, labels, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline='') as f:
        assert list(csv.reader(f))[0] == ['epoch', 'accuracy', 'loss']  # append=False starts the file over
    assert os.listdir(tmp_path) == ['log.csv']  # written atomically: no temporary file left


# ---- TerminateOnNaN ----------------------------------------------------------------------------------------------
def diverging():
    model = numbanet.Sequential([layers.Input(shape=(3,)), layers.Dense(1)], seed=0)
    model.compile(optimizer=numbanet.optimizers.SGD(1e6), loss='mse')  # diverges within a few steps
    return model


def test_terminate_on_nan_stops_or_raises(rng, capsys):
    x = rng.standard_normal((64, 3)).astype(np.float32) * 10
    y = rng.standard_normal((64, 1)).astype(np.float32) * 1e3
    with pytest.warns(RuntimeWarning, match='training stopped'):
        history = diverging().fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.epoch) < 50
    assert capsys.readouterr().out.endswith(': Invalid loss, terminating training\n')
    ended = []
    with pytest.raises(RuntimeError, match='NaN or Inf loss encountered at batch'):
        diverging().fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[
            callbacks.TerminateOnNaN(raise_error=True), callbacks.LambdaCallback(on_train_end=ended.append)])
    assert ended == []  # raise_error skips on_train_end, as in Keras


# ---- the hooks ----------------------------------------------------------------------------------------------------
class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []
        for hook in callbacks.callback.HOOKS:
            setattr(self, hook, self._record(hook))

    def _record(self, hook):
        def record(*args):
            self.calls.append((hook,) + tuple(a if not isinstance(a, dict) else dict(a) for a in args))
        return record


def test_fit_evaluate_and_predict_call_every_keras_hook_in_order(rng):
    x, labels = blobs(rng, n=40)
    model = compiled()
    rec = Recorder()
    history = model.fit(x, labels, epochs=2, batch_size=16, validation_data=(x[:10], labels[:10]), verbose=0,
                        callbacks=[rec])
    hooks = [c[0] for c in rec.calls]
    epoch = (['on_epoch_begin'] + ['on_train_batch_begin', 'on_train_batch_end'] * 3 +
             ['on_test_begin'] + ['on_test_batch_begin', 'on_test_batch_end'] + ['on_test_end', 'on_epoch_end'])
    assert hooks == ['on_train_begin'] + epoch * 2 + ['on_train_end']
    assert rec.params == {'verbose': 0, 'epochs': 2, 'steps': 3} and rec.model is model
    epoch_ends = [c for c in rec.calls if c[0] == 'on_epoch_end']
    assert [c[2] for c in epoch_ends] == [{k: v[e] for k, v in history.history.items()} for e in range(2)]

    rec = Recorder()
    result = model.evaluate(x, labels, batch_size=16, verbose=0, return_dict=True, callbacks=[rec])
    assert [c[0] for c in rec.calls] == (['on_test_begin'] + ['on_test_batch_begin', 'on_test_batch_end'] * 3 +
                                         ['on_test_end'])
    assert rec.calls[-1][1] == result and rec.params['steps'] == 3

    rec = Recorder()
    out = model.predict(x, batch_size=32, verbose=0, callbacks=[rec])
    assert [c[0] for c in rec.calls] == (['on_predict_begin'] + ['on_predict_batch_begin', 'on_predict_batch_end'] * 2
                                         + ['on_predict_end'])
    batches = [c[2]['outputs'] for c in rec.calls if c[0] == 'on_predict_batch_end']
    np.testing.assert_array_equal(np.concatenate(batches), out)
    rec = Recorder()
    model.predict(x[:3], verbose=0, callbacks=[rec])  # one batch: the hooks still run
    assert [c[0] for c in rec.calls][0] == 'on_predict_begin'


def test_lambda_callback_and_the_older_batch_hook_names(rng):
    x, labels = blobs(rng, n=40)
    model = compiled()
    seen = []

    class OldStyle(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(('old', batch))
    lam = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append('begin'),
                                   on_train_batch_begin=lambda batch, logs: seen.append(('batch', batch)),
                                   on_epoch_end=lambda epoch, logs: seen.append(('epoch', epoch, sorted(logs))),
                                   on_test_end=lambda logs: seen.append('test'))
    model.fit(x, labels, epochs=1, batch_size=20, verbose=0, callbacks=[OldStyle(), lam])
    assert seen == ['begin', ('batch', 0), ('old', 0), ('batch', 1), ('old', 1), ('epoch', 0, ['accuracy', 'loss'])]
    model.evaluate(x, labels, verbose=0, callbacks=[lam])
    assert seen[-1] == 'test'


def test_a_callback_can_stop_training_in_the_middle_of_an_epoch(rng):
    x, labels = blobs(rng, n=40)
    model = compiled()

    class StopAfterTwo(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True
    model.fit(x, labels, epochs=3, batch_size=8, verbose=0, callbacks=[StopAfterTwo()])
    assert model.optimizer.iterations == 2


# ---- progress output -------------------------------------------------------------------------------------------
def test_verbose_2_prints_exactly_one_line_per_epoch_without_a_bar(rng, capsys):
    x, labels = blobs(rng, n=60)
    model = compiled()
    model.fit(x, labels, epochs=3, batch_size=16, validation_split=0.2, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    for i, line in enumerate(out):
        assert line.startswith(f'Epoch {i + 1}/3 - 3/3 - ') and '/step - loss: ' in line and ' - val_loss: ' in line
        assert '━' not in line and '=' not in line
    model.evaluate(x, labels, verbose=2)
    model.fit(x, labels, epochs=1, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith('2/2 - ') and out[1].startswith('2/2 - ')  # no header for 1 epoch


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


@pytest.mark.parametrize('call', ['predict', 'evaluate'])
def test_predict_and_evaluate_time_the_work_itself(rng, capsys, monkeypatch, call):
    x, labels = blobs(rng, n=40)
    model = compiled()
    clock = FakeClock()
    monkeypatch.setattr(numbanet.progress, 'time', clock)

    class TwoSecondBatches(callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            clock.now += 2.0

        on_test_batch_end = on_predict_batch_end
    args = (x,) if call == 'predict' else (x, labels)
    getattr(model, call)(*args, batch_size=8, verbose=1, callbacks=[TwoSecondBatches()])
    out = capsys.readouterr().out
    assert out.startswith('5/5 ') and ' 10s 2s/step' in out and len(out.splitlines()) == 1


@pytest.mark.parametrize('verbose, want', [(1, '4/4 '), (2, '4/4 - ')])
def test_progress_with_an_unknown_number_of_steps_counts_them(capsys, verbose, want):
    # A generator's length is known only once it ends: fit passes steps=None.
    cb = callbacks.CallbackList(add_progbar=True, verbose=verbose, epochs=1, steps=None)
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    for batch in range(4):
        cb.on_train_batch_begin(batch)
        cb.on_train_batch_end(batch, {'loss': 1.0})
    cb.on_epoch_end(0, {'loss': 0.5})
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(want) and out[0].endswith(' - loss: 0.5000')
