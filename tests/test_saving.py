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
