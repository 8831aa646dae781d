"""Saving and loading: round trips, every refused file, PyTorch's layout, ONNX, freezing."""
import json
import os

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.models import SavedFileError, load_model
from tests.test_model import blobs, mlp


def _residual(seed=1):
    inputs = layers.Input(shape=(6,))
    h = layers.Dense(8, activation='relu')(inputs)
    a = layers.Dense(8)(h)
    merged = layers.Add()([a, h])
    joined = layers.Concatenate()([merged, inputs])
    return numbanet.Model(inputs, layers.Dense(3, activation='softmax')(joined), seed=seed)


@pytest.fixture
def trained(rng):
    model = _residual()
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    x = rng.standard_normal((60, 6)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    model.fit(x, y, epochs=2, verbose=0)
    return model, x, y


# ---- round trips ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('build', [_residual, lambda: mlp(functional=False), lambda: mlp(functional=True)])
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


def test_torch_layout_matches_a_hand_made_state_dict(tmp_path, rng):
    from safetensors.numpy import save_file
    # What torch.nn.Sequential(Linear(12,16), ReLU(), Linear(16,8), ReLU(), Linear(8,5)) saves.
    state = {'0.weight': rng.standard_normal((16, 12), dtype=np.float32), '0.bias': rng.standard_normal(16, dtype=np.float32),
             '2.weight': rng.standard_normal((8, 16), dtype=np.float32), '2.bias': rng.standard_normal(8, dtype=np.float32),
             '4.weight': rng.standard_normal((5, 8), dtype=np.float32), '4.bias': rng.standard_normal(5, dtype=np.float32)}
    save_file(state, str(tmp_path / 'torch.safetensors'))
    model = mlp()
    model.load_weights(tmp_path / 'torch.safetensors')
    x = rng.standard_normal((4, 12)).astype(np.float32)
    h = np.maximum(x @ state['0.weight'].T + state['0.bias'], 0)
    h = np.maximum(h @ state['2.weight'].T + state['2.bias'], 0)
    z = h @ state['4.weight'].T + state['4.bias']
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), p / p.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    model.save_weights(tmp_path / 'back.safetensors', layout='torch')
    from safetensors.numpy import load_file
    back = load_file(str(tmp_path / 'back.safetensors'))
    assert set(back) == set(state)
    for key in state:
        np.testing.assert_array_equal(back[key], state[key])


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


def test_load_model_refuses_bad_architecture(tmp_path, trained):
    from safetensors.numpy import save_file
    model = trained[0]
    model.save(tmp_path / 'm.safetensors')
    from safetensors import safe_open
    with safe_open(str(tmp_path / 'm.safetensors'), framework='np') as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta['model'])
    config['layers'][1]['class'] = 'Conv2D'
    save_file(tensors, str(tmp_path / 'arch.safetensors'), metadata={**meta, 'model': json.dumps(config)})
    with pytest.raises(SavedFileError, match='unknown layer'):
        load_model(tmp_path / 'arch.safetensors')
    save_file(tensors, str(tmp_path / 'json.safetensors'), metadata={**meta, 'model': '{not json'})
    with pytest.raises(SavedFileError, match='not JSON'):
        load_model(tmp_path / 'json.safetensors')
    del tensors[model.parameters.weights[-1].name]
    save_file(tensors, str(tmp_path / 'short.safetensors'), metadata=meta)
    with pytest.raises(SavedFileError, match='missing tensor'):
        load_model(tmp_path / 'short.safetensors')


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


# ---- freezing ----------------------------------------------------------------------------------------------------
def test_frozen_layer_stays_bit_identical_and_optimizer_skips_it(rng):
    x, labels = blobs(rng, n=200)
    model = mlp(hidden=(16, 8))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, labels, epochs=1, verbose=0)  # Adam has momentum for every weight now
    frozen = model.layers[1]
    frozen.trainable = False
    before = [w.copy() for w in frozen.get_weights()]
    others = [w.copy() for w in model.layers[2].get_weights()]
    history = model.fit(x, labels, epochs=2, verbose=0)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(others[0], model.layers[2].get_weights()[0])
    assert history.history['loss'][-1] < history.history['loss'][0]
    lines = []
    model.summary(print_fn=lines.append)
    assert 'Non-trainable params: 208' in '\n'.join(lines)  # 12*16 + 16
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    frozen.trainable = True  # thawing works too
    model.fit(x, labels, epochs=1, verbose=0)
    assert not np.array_equal(before[0], frozen.get_weights()[0])


def test_layers_reused_in_a_new_model_share_weights(rng):
    x, labels = blobs(rng, n=100)
    base = mlp(hidden=(16,))
    features = base.layers[1]
    features.trainable = False
    inputs = layers.Input(shape=(12,))
    new = numbanet.Model(inputs, layers.Dense(3, activation='softmax', name='new_head')(features(inputs)), seed=9)
    new.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    kernel = features.get_weights()[0]
    new.fit(x, labels % 3, epochs=2, verbose=0)
    np.testing.assert_array_equal(features.get_weights()[0], kernel)
    np.testing.assert_array_equal(base.get_weights()[0], kernel)  # the base model sees the same weights


# ---- ONNX ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('build', [_residual, lambda: mlp(functional=True)])
def test_onnx_export_matches_predict(tmp_path, rng, build):
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    model = build()
    path = tmp_path / 'm.onnx'
    model.export(path, format='onnx')
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    assert any(node.op_type == 'Softmax' for node in proto.graph.node)
    x = rng.standard_normal((33, model.graph.inputs[0].shape[1])).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5, rtol=0)


def test_onnx_export_with_two_inputs(tmp_path, rng):
    pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    i1, i2 = layers.Input(shape=(4,), name='first'), layers.Input(shape=(3,), name='second')
    out = layers.Dense(2)(layers.Concatenate()([layers.ReLU()(layers.Dense(5)(i1)), i2]))
    model = numbanet.Model([i1, i2], out, seed=0)
    model.export(tmp_path / 'two.onnx')
    x1, x2 = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / 'two.onnx'), providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['first', 'second']
    got = session.run(None, {'first': x1, 'second': x2})[0]
    np.testing.assert_allclose(got, model.predict([x1, x2], verbose=0), atol=1e-5, rtol=0)
