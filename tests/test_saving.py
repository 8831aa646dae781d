"""Saving and loading model and weight files: round trips, and every refused file."""
import os

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.models import SavedFileError, load_model
from tests.helpers import mlp, residual, trained_residual


@pytest.fixture
def trained(rng):
    return trained_residual(rng)


# ---- round trips ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('build', [residual, lambda: mlp(functional=False), lambda: mlp(functional=True)])
def test_save_load_gives_identical_predictions(tmp_path, rng, build):
    model = build()
    x = rng.standard_normal((20, model.graph.inputs[0].shape[1] if model.built else 12)).astype(np.float32)
    model.predict(x, verbose=0)  # builds a lazy Sequential
    model.save(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors')
    assert type(loaded) is type(model) and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not loaded.compiled


def test_load_model_restores_compile_and_optimizer_state(tmp_path, trained):
    model, x, y = trained
    model.save(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors')
    assert loaded.compiled and isinstance(loaded.optimizer, numbanet.optimizers.Adam)
    assert loaded.optimizer.learning_rate == 0.01 and loaded.optimizer.iterations == model.optimizer.iterations
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    # Training continues exactly where it stopped: Adam's moments came back too.
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_round_trip_and_transposed_views(tmp_path, rng):
    # safetensors 0.8 scrambles non-contiguous arrays; the kernels handed to it are transposed views
    # in the torch layout, so a round trip through that layout proves they were made contiguous.
    model = mlp(seed=3)
    model.save_weights(tmp_path / 'w.safetensors')
    model.save_weights(tmp_path / 't.safetensors', layout='torch')
    other = mlp(seed=4)
    other.load_weights(tmp_path / 't.safetensors')
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    third = mlp(seed=5)
    third.load_weights(tmp_path / 'w.safetensors')  # a different model of the same structure: by order
    for a, b in zip(model.get_weights(), third.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---- refused files ----------------------------------------------------------------------------------------------
def _unchanged(model, call, error, match):
    before = model.get_weights()
    with pytest.raises(error, match=match):
        call()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_refuses_unknown_truncated_and_corrupt_files(tmp_path, trained):
    model = trained[0]
    path = tmp_path / 'w.safetensors'
    model.save_weights(path)
    data = path.read_bytes()
    (tmp_path / 'junk').write_bytes(b'not a model at all')
    _unchanged(model, lambda: model.load_weights(tmp_path / 'junk'), SavedFileError, 'not a safetensors file')
    (tmp_path / 'cut').write_bytes(data[:-40])
    _unchanged(model, lambda: model.load_weights(tmp_path / 'cut'), SavedFileError, 'truncated')
    corrupt = bytearray(data)
    corrupt[10:20] = b'\xff' * 10  # inside the JSON header
    (tmp_path / 'bad').write_bytes(bytes(corrupt))
    _unchanged(model, lambda: model.load_weights(tmp_path / 'bad'), SavedFileError, 'damaged')
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / 'missing')
    with pytest.raises(SavedFileError, match='weights only'):
        load_model(path)
    with pytest.raises(SavedFileError, match='not a numbanet model file'):
        from safetensors.numpy import save_file
        save_file({'a': np.zeros(2, np.float32)}, str(tmp_path / 'plain'))
        load_model(tmp_path / 'plain')


def test_refuses_missing_extra_wrong_shape_and_dtype(tmp_path, trained):
    from safetensors.numpy import save_file
    model = trained[0]
    good = {w.name: w.value.copy() for w in model.parameters.weights}
    name = model.parameters.weights[0].name
    cases = [
        ({k: v for k, v in good.items() if k != name}, f"missing tensor '{name}'"),
        ({**good, 'stray/kernel': np.zeros(3, np.float32)}, "extra tensor 'stray/kernel'"),
        ({**good, name: np.zeros((2, 2), np.float32)}, rf"tensor '{name}' has shape \(2, 2\)"),
        ({**good, name: good[name].astype(np.float64)}, f"tensor '{name}' has dtype float64"),
    ]
    for i, (tensors, match) in enumerate(cases):
        path = tmp_path / f'case{i}.safetensors'
        save_file(tensors, str(path))
        _unchanged(model, lambda: model.load_weights(path), SavedFileError, match)


def test_skip_mismatch_loads_what_fits_by_name(tmp_path, rng):
    # Keras's transfer-learning pattern: the hidden layers load into a model with a different head.
    a = numbanet.Sequential([layers.Input(shape=(12,)), layers.Dense(16, activation='relu', name='hidden'),
                             layers.Dense(5, activation='softmax', name='head')], seed=0)
    a.save_weights(tmp_path / 'a.safetensors')
    b = numbanet.Sequential([layers.Input(shape=(12,)), layers.Dense(16, activation='relu', name='hidden'),
                             layers.Dense(7, activation='softmax', name='head')], seed=1)
    head_before = b.get_weights()[2:]
    _unchanged(b, lambda: b.load_weights(tmp_path / 'a.safetensors'), SavedFileError, r"'head/kernel' has shape")
    with pytest.warns(UserWarning, match="skipped tensor 'head/kernel'"):
        loaded = b.load_weights(tmp_path / 'a.safetensors', skip_mismatch=True)
    assert loaded == ['hidden/kernel', 'hidden/bias']
    np.testing.assert_array_equal(b.get_weights()[0], a.get_weights()[0])
    for before, after in zip(head_before, b.get_weights()[2:]):
        np.testing.assert_array_equal(before, after)


def test_interrupted_save_keeps_the_old_file(tmp_path, trained, monkeypatch):
    model = trained[0]
    path = tmp_path / 'm.safetensors'
    model.save(path)
    before = path.read_bytes()
    real_fsync = os.fsync

    def crash(fd):
        raise KeyboardInterrupt  # the process dies after writing, before the rename
    monkeypatch.setattr(os, 'fsync', crash)
    model.fit(trained[1], trained[2], epochs=1, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.setattr(os, 'fsync', real_fsync)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['m.safetensors']


class _Scalar(layers.Layer):
    """A layer with a scalar weight: y = x * s."""

    def build(self, input_shape):
        self.s = self.add_weight('s', ())

    def forward(self, x, out, ctx):
        np.multiply(x, self.s.value, out=out)


def test_a_scalar_weight_saves_and_loads(tmp_path, rng):
    inputs = layers.Input(shape=(3,))
    model = numbanet.Model(inputs, _Scalar()(inputs), seed=2)
    assert model.get_weights()[0].shape == () and np.isfinite(model.get_weights()[0])
    model.save(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors', custom_objects={'_Scalar': _Scalar})
    assert loaded.get_weights()[0] == model.get_weights()[0]


class _Unsaveable(layers.Dense):
    def get_config(self):
        return {**super().get_config(), 'when': object()}


def test_a_config_json_cannot_hold_is_named():
    inputs = layers.Input(shape=(3,))
    model = numbanet.Model(inputs, _Unsaveable(2, name='odd')(inputs))
    with pytest.raises(ValueError, match="layer 'odd' .*JSON"):
        model.save(os.devnull)


def test_every_layer_and_activation_saves_and_loads(tmp_path, rng):
    from tests.helpers import every_layer_model
    model = every_layer_model()
    x = rng.standard_normal((12, 4, 6)).astype(np.float32)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy', 'auc'])
    model.fit(x, numbanet.utils.to_categorical(rng.integers(0, 3, 12), 3), epochs=1, verbose=0)
    model.save(tmp_path / 'all.safetensors')
    loaded = load_model(tmp_path / 'all.safetensors')
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [m.name for m in loaded.compiled_metrics] == ['accuracy', 'auc']


def test_training_after_load_continues_with_the_same_shuffles(tmp_path, trained):
    model, x, y = trained
    model.save(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors')
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # shuffle=True: the generator's state matters
    loaded.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---- crafted files: bounded work, the module's own error -------------------------------------------------------
def _model_file(path, entries, tensors=None, input_shape=(3,), **metadata):
    """A model file as someone might craft one: a Sequential of `entries` after an Input, with `tensors`."""
    import json
    from safetensors.numpy import save_file
    entries = [{'class': 'InputLayer', 'config': {'name': 'in', 'shape': list(input_shape)}}] + list(entries)
    config = {'class': 'Sequential', 'name': 's', 'seed': 1, 'layers': entries, 'inputs': [0],
              'nodes': [{'layer': i, 'inputs': [i - 1] if i else []} for i in range(len(entries))],
              'output': len(entries) - 1}
    save_file(tensors or {}, str(path), metadata={'format': 'numbanet', 'format_version': '2', 'kind': 'model',
                                                  'layout': 'numbanet', 'model': json.dumps(config),
                                                  'compile': 'null', **metadata})
    return path


@pytest.fixture
def no_allocation(monkeypatch):
    """Fails a test that allocates any model's weights."""
    def refuse(self, weights, rng):
        raise AssertionError(f"{sum(w.size for w in weights):,} parameters allocated before the file was checked")
    monkeypatch.setattr(numbanet.params.Parameters, 'bind', refuse)


def test_a_file_is_checked_against_its_architecture_before_anything_is_allocated(tmp_path, no_allocation):
    dense = lambda units: {'class': 'Dense', 'config': {'name': 'd', 'units': units}}  # noqa: E731
    cases = {
        # 2,000 layers in a few kilobytes, and no tensor: refused after reading the config, not after building
        'many layers': ([{'class': 'Dense', 'config': {'units': 1}}] * 2000, {}, r"missing tensor .*and 3990 more"),
        'huge layer': ([dense(125_000_000)], {}, "missing tensor 'd/kernel'"),
        'huger layer': ([dense(10**12)], {'d/kernel': np.zeros((3, 1), np.float32)}, r"'d/kernel' has shape"),
        'float units': ([dense(1e12)], {}, 'units must be a positive int'),
    }
    for name, (entries, tensors, match) in cases.items():
        with pytest.raises(SavedFileError, match=match):
            load_model(_model_file(tmp_path / f'{name}.safetensors', entries, tensors))


def test_deeply_nested_metadata_is_refused_before_it_is_parsed(tmp_path):
    deep = '[' * 500 + ']' * 500
    for key in ('model', 'compile', 'rng_state', 'training'):
        path = _model_file(tmp_path / f'{key}.safetensors', [{'class': 'Dense', 'config': {'units': 1}}])
        _rewrite_metadata(path, **{key: deep})
        with pytest.raises(SavedFileError, match=f"'{key}' is nested too deeply"):
            load_model(path)
    # Brackets inside strings are text, not nesting.
    path = _model_file(tmp_path / 'text.safetensors', [{'class': 'Dense', 'config': {'units': 1, 'name': '[' * 500}}])
    with pytest.raises(SavedFileError, match=r"missing tensor '\[\[\["):
        load_model(path)


def _rewrite_metadata(path, **metadata):
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(path), framework='np') as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(path), metadata={**meta, **metadata})


def _rewrite_tensors(path, edit):
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(path), framework='np') as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    edit(tensors)
    save_file(tensors, str(path), metadata=meta)


def test_weights_and_optimizer_state_are_checked_on_load(tmp_path, trained):
    model = trained[0]
    kernel = model.parameters.weights[0].name

    def nan_weight(t):
        t[kernel] = t[kernel].copy()
        t[kernel][0, 0] = np.nan

    def slot(name, value):
        def edit(t):
            t[f'optimizer/state/{name}'] = t[f'optimizer/state/{name}'].copy()
            t[f'optimizer/state/{name}'][3] = value
        return edit
    cases = {'nan weight': (nan_weight, 'NaN'), 'inf in m': (slot('m', np.inf), "'m' holds NaN or infinity"),
             'negative v': (slot('v', -1e-3), "'v' holds negative values")}
    for name, (edit, match) in cases.items():
        path = tmp_path / f'{name}.safetensors'
        model.save(path)
        _rewrite_tensors(path, edit)
        with pytest.raises(SavedFileError, match=match):
            load_model(path)
    path = tmp_path / 'nan weight.safetensors'
    _unchanged(model, lambda: model.load_weights(path), SavedFileError, 'NaN')
    model.save(path)
    _rewrite_metadata(path, optimizer_iterations='-3')
    with pytest.raises(SavedFileError, match='optimizer_iterations must be a whole number'):
        load_model(path)


# ---- names -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', ['optimizer', 'mask'])
def test_layers_may_take_the_names_of_the_files_bookkeeping(tmp_path, rng, name):
    # Masks are 'mask/<layer>/<weight>' and the optimizer's slots 'optimizer/state/<slot>': three parts,
    # where a weight has two, so no layer name collides with either.
    inputs = layers.Input(shape=(6,))
    hidden = layers.Dense(7, activation='relu', name=name)(inputs)
    model = numbanet.Model(inputs, layers.Dense(3, activation='softmax', name='state')(hidden), seed=4)
    x, y = rng.standard_normal((30, 6)).astype(np.float32), rng.integers(0, 3, 30)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, y, epochs=1, verbose=0)
    numbanet.compression.prune(model, 0.5)
    model.save(tmp_path / 'm.safetensors')
    model.save_weights(tmp_path / 'w.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors')
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert [w.mask is not None for w in loaded.parameters.weights] == [w.mask is not None
                                                                        for w in model.parameters.weights]
    inputs = layers.Input(shape=(6,))
    hidden = layers.Dense(7, activation='relu', name=name)(inputs)
    fresh = numbanet.Model(inputs, layers.Dense(3, activation='softmax', name='state')(hidden), seed=5)
    fresh.load_weights(tmp_path / 'w.safetensors')
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


# ---- files as open() makes them ----------------------------------------------------------------------------------
def test_saved_files_get_the_permissions_open_would_give(tmp_path):
    model = mlp()
    old = os.umask(0o022)
    try:
        model.save(tmp_path / 'new.safetensors')
        assert os.stat(tmp_path / 'new.safetensors').st_mode & 0o777 == 0o644
        os.umask(0o077)
        model.save(tmp_path / 'private.safetensors')
        assert os.stat(tmp_path / 'private.safetensors').st_mode & 0o777 == 0o600
        model.save(tmp_path / 'new.safetensors')  # replacing a file keeps its mode, as open(path, 'w') does
        assert os.stat(tmp_path / 'new.safetensors').st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_a_save_into_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such directory') as e:
        mlp().save(tmp_path / 'missing' / 'm.safetensors')
    assert e.value.filename == str(tmp_path / 'missing') and not (tmp_path / 'missing').exists()


def test_a_save_killed_midway_leaves_a_temporary_the_next_save_removes(tmp_path):
    import signal
    import subprocess
    import sys
    path = tmp_path / 'm.safetensors'
    # The writer stops in fsync, its data written and not yet renamed, and is killed there.
    code = ("import os, sys, time\nfrom numbanet.files import write_atomic\n"
            "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(300))\n"
            "write_atomic(sys.argv[1], bytes(1 << 20))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, '-c', code, str(path)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=root))
    assert proc.stdout.readline().strip() == 'writing'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stale = [n for n in os.listdir(tmp_path) if n.startswith('.tmp-')]
    assert len(stale) == 1 and not path.exists()
    live = tmp_path / f'.tmp-m.safetensors-{os.getppid()}-0123abcd'  # a save still running in another process
    live.write_bytes(b'')
    mlp().save(path)
    assert sorted(os.listdir(tmp_path)) == [live.name, 'm.safetensors']


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read any file")
def test_an_unreadable_file_is_reported_as_permission_denied(tmp_path):
    path = tmp_path / 'm.safetensors'
    mlp().save(path)
    os.chmod(path, 0)
    with pytest.raises(PermissionError):
        load_model(path)
