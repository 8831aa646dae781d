"""A model on 'cuda' against the same model on 'cpu'; moving between devices; files from the GPU."""
import numpy as np
import pytest

import numbanet
from numbanet import layers


def tiny(device, seed=0):
    inputs = layers.Input(shape=(5,))
    h = layers.Dense(6, activation='relu')(inputs)
    skip = layers.Add()([layers.Dense(6)(h), h])
    return numbanet.Model(inputs, layers.Dense(3, activation='softmax')(skip), seed=seed, device=device)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((7, 5)).astype(np.float32), rng.integers(0, 3, 7)


@pytest.mark.parametrize('optimizer', ['adam', 'sgd'])
def test_two_steps_on_cuda_match_cpu(data, optimizer):
    x, y = data
    models = {d: tiny(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    histories = {d: m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0) for d, m in models.items()}
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        assert isinstance(b, np.ndarray)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert histories['cuda'].history['loss'][0] == pytest.approx(histories['cpu'].history['loss'][0], rel=1e-5)
    np.testing.assert_allclose(models['cuda'].predict(x, verbose=0), models['cpu'].predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    loss_gpu, acc_gpu = models['cuda'].evaluate(x, y, verbose=0)
    loss_cpu, acc_cpu = models['cpu'].evaluate(x, y, verbose=0)
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-5) and acc_gpu == acc_cpu


def test_to_moves_weights_and_optimizer_state(data):
    x, y = data
    a, b = tiny('cpu'), tiny('cpu')
    for m in (a, b):
        m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        m.fit(x, y, batch_size=7, epochs=1, verbose=0)
    assert b.to('cuda') is b and b.device == 'cuda'
    a.fit(x, y, batch_size=7, epochs=1, shuffle=False, verbose=0)
    b.fit(x, y, batch_size=7, epochs=1, shuffle=False, verbose=0)  # Adam's moments came along
    b.to('cpu')
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_trainable_weights_are_live_device_views(data):
    model = tiny('cuda')
    live = model.trainable_weights[0]
    assert hasattr(live, 'copy_to_host')
    ws = model.get_weights()
    ws[0][:] = 1.0
    model.set_weights(ws)
    assert (live.copy_to_host() == 1.0).all()


def test_bad_input_is_refused_before_the_device(data):
    x, y = data
    model = tiny('cuda')
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    before = model.get_weights()
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        model.fit(bad, y, verbose=0)
    with pytest.raises(ValueError, match='label 3'):
        model.fit(x, np.full(7, 3), verbose=0)
    for u, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_save_and_load_across_devices(tmp_path, data):
    x, y = data
    model = tiny('cuda')
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, y, batch_size=7, epochs=1, verbose=0)
    model.save(tmp_path / 'm.safetensors')
    on_cpu = numbanet.models.load_model(tmp_path / 'm.safetensors', device='cpu')
    np.testing.assert_allclose(on_cpu.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    on_gpu = numbanet.models.load_model(tmp_path / 'm.safetensors', device='cuda')
    np.testing.assert_array_equal(on_gpu.get_weights()[0], model.get_weights()[0])


def test_quantized_and_pruned_models_on_cuda(data):
    from numbanet import compression
    x, y = data
    models = {d: tiny(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        compression.prune(m, sparsity=0.5)
        m.fit(x, y, batch_size=7, epochs=1, verbose=0)
    assert compression.sparsity(models['cuda']) == pytest.approx(compression.sparsity(models['cpu']))
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for m in models.values():
        m.quantize('int8')
    np.testing.assert_allclose(models['cuda'].predict(x, verbose=0), models['cpu'].predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_sequential_on_cuda_learns_its_shape_lazily(data):
    x, y = data
    model = numbanet.Sequential([layers.Dense(4, activation='relu'), layers.Dense(3, activation='softmax')],
                                seed=1, device='cuda')
    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x, y, batch_size=7, epochs=1, verbose=0)
    twin = numbanet.Sequential([layers.Dense(4, activation='relu'), layers.Dense(3, activation='softmax')],
                               seed=1)
    twin.compile(optimizer='sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    twin.fit(x, y, batch_size=7, epochs=1, verbose=0)
    assert model.device == 'cuda' and model.layers[0].get_weights()[0].shape == (5, 4)
    for a, b in zip(twin.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_distiller_on_cuda_matches_cpu(data):
    from numbanet import compression
    x, y = data
    students = {}
    for device in ('cpu', 'cuda'):
        teacher = tiny(device, seed=4)
        teacher.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        teacher.fit(x, y, batch_size=7, epochs=2, verbose=0)
        students[device] = tiny(device, seed=5)
        distiller = compression.Distiller(teacher, students[device], temperature=2.0, alpha=0.3)
        distiller.compile(optimizer='adam', metrics=['accuracy'])
        distiller.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for a, b in zip(students['cpu'].get_weights(), students['cuda'].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='same device'):
        compression.Distiller(tiny('cpu'), students['cuda'])


def test_dropout_norms_activations_and_binary_crossentropy_on_cuda_match_cpu():
    # The dropout masks come from a counter-based generator: the same on both devices, so the same steps.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    y = (rng.random((6, 2)) > 0.5).astype(np.float32)

    def model(device):
        inputs = layers.Input(shape=(2, 3))
        h = layers.Dense(5, activation='gelu')(layers.Flatten()(inputs))
        h = layers.Dropout(0.4)(layers.BatchNormalization()(h))
        h = layers.LayerNormalization()(layers.Dense(4, activation='silu', kernel_regularizer='l2')(h))
        return numbanet.Model(inputs, layers.Dense(2, activation='sigmoid')(h), seed=3, device=device)
    models = {d: model(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy', 'auc'])
    histories = {d: m.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0) for d, m in models.items()}
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for key in ('loss', 'accuracy', 'auc'):
        np.testing.assert_allclose(histories['cuda'].history[key], histories['cpu'].history[key], rtol=1e-4)
    np.testing.assert_allclose(models['cuda'].predict(x, verbose=0), models['cpu'].predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
