"""The runtime and the Keras-shaped API, end to end."""

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet import Model, Sequential
from tests.reference_mlp import ReferenceMLP


def mlp(hidden=(16, 8), n_in=12, n_out=5, seed=0, functional=True):
    if functional:
        inputs = layers.Input(shape=(n_in,))
        x = inputs
        for h in hidden:
            x = layers.Dense(h, activation='relu')(x)
        outputs = layers.Dense(n_out, activation='softmax')(x)
        return Model(inputs=inputs, outputs=outputs, seed=seed)
    return Sequential([layers.Dense(h, activation='relu') for h in hidden] +
                      [layers.Dense(n_out, activation='softmax')], seed=seed)


def blobs(rng, n=300, n_in=12, n_out=5, spread=0.5):
    centers = rng.standard_normal((n_out, n_in)) * 2
    labels = rng.integers(0, n_out, n)
    x = (centers[labels] + spread * rng.standard_normal((n, n_in))).astype(np.float32)
    return x, labels


# ---- the reference program --------------------------------------------------------------------------------
def test_reference_program_runs_unchanged(rng):
    x, labels = blobs(rng, n=640, n_in=784, n_out=10, spread=3.0)
    x_train, x_test = x[:512], x[512:]
    y_train, y_test = labels[:512], numbanet.utils.to_categorical(labels[512:], 10)

    inputs = numbanet.layers.Input(shape=(784,))
    x = numbanet.layers.Dense(256, activation='relu')(inputs)
    x = numbanet.layers.Dense(128, activation='relu')(x)
    x = numbanet.layers.Dense(64, activation='relu')(x)
    outputs = numbanet.layers.Dense(10, activation='softmax')(x)
    model = numbanet.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    y_train = numbanet.utils.to_categorical(y_train, 10)
    history = model.fit(x_train, y_train, batch_size=128, epochs=3, validation_data=(x_test, y_test),
                        verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)

    assert model.count_params() == 242_762
    assert set(history.history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert accuracy > 0.9 and loss == pytest.approx(history.history['val_loss'][-1], rel=1e-6)


def test_learns_a_separable_problem(rng):
    x, labels = blobs(rng, n=2000)
    model = mlp()
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(x[:1500], labels[:1500], batch_size=32, epochs=5, verbose=0)
    _, acc = model.evaluate(x[1500:], labels[1500:], verbose=0)
    assert history.history['accuracy'][-1] > 0.97 and acc > 0.97


# ---- against an independent numpy implementation ------------------------------------------------------------
@pytest.mark.parametrize('opt', ['sgd', 'sgd_momentum', 'sgd_nesterov', 'adam'])
def test_training_matches_numpy_reference(rng, opt):
    x, labels = blobs(rng, n=70)  # 70 = 2 full batches of 32 and a last one of 6
    y = numbanet.utils.to_categorical(labels, 5)
    model = mlp(hidden=(16, 9))
    if opt == 'adam':
        optimizer, ref_args = numbanet.optimizers.Adam(0.01), ('adam', 0.01)
    else:
        mom = 0.0 if opt == 'sgd' else 0.9
        nest = opt == 'sgd_nesterov'
        optimizer = numbanet.optimizers.SGD(0.1, momentum=mom, nesterov=nest)
        ref_args = ('sgd', 0.1, mom, nest)
    model.compile(optimizer=optimizer, loss='categorical_crossentropy')
    ref = ReferenceMLP(model.get_weights(), ['relu', 'relu', 'softmax'], *ref_args)
    history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    losses = []
    for _ in range(3):
        losses.append(sum(ref.step(x[s:s + 32], y[s:s + 32]) * len(x[s:s + 32]) for s in range(0, 70, 32)) / 70)
    for got, want in zip(model.get_weights(), ref.weights()):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(history.history['loss'], losses, rtol=1e-4)


# ---- graphs ----------------------------------------------------------------------------------------------------
def _finite_difference_check(model, x, y, rng, count=12, eps=2e-3):
    """Compare the gradient the engine computes with central differences of evaluate()'s loss."""
    model.compile(optimizer=numbanet.optimizers.SGD(1.0), loss='mse')
    w0 = model.get_weights()
    n = len(y)
    model.fit(x, y, batch_size=n, epochs=1, shuffle=False, verbose=0)  # one SGD step, lr 1: w -= g
    grads = [a - b for a, b in zip(w0, model.get_weights())]
    model.set_weights(w0)
    for wi, g in enumerate(grads):
        for flat in rng.choice(g.size, size=min(count, g.size), replace=False):
            ws = [w.copy() for w in w0]
            ws[wi].reshape(-1)[flat] += eps
            model.set_weights(ws)
            up = model.evaluate(x, y, batch_size=n, verbose=0)
            ws[wi].reshape(-1)[flat] -= 2 * eps
            model.set_weights(ws)
            down = model.evaluate(x, y, batch_size=n, verbose=0)
            assert g.reshape(-1)[flat] == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=2e-3)
    model.set_weights(w0)


def test_skip_connection_gradients(rng):
    # One tensor (h) feeds two layers and the Add: its gradient is the sum over three readers.
    inputs = layers.Input(shape=(6,))
    h = layers.Dense(8, activation='relu')(inputs)
    a = layers.Dense(8)(h)
    b = layers.Dense(8, activation='relu')(h)
    merged = layers.Add()([a, b, h])
    outputs = layers.Dense(3)(merged)
    model = Model(inputs, outputs, seed=3)
    x = rng.standard_normal((9, 6)).astype(np.float32)
    y = rng.standard_normal((9, 3)).astype(np.float32)
    _finite_difference_check(model, x, y, rng)


def test_concatenate_and_two_inputs(rng):
    i1, i2 = layers.Input(shape=(4,)), layers.Input(shape=(3,))
    a = layers.Dense(5, activation='relu')(i1)
    merged = layers.Concatenate()([a, i2, a])
    outputs = layers.Dense(2)(merged)
    model = Model([i1, i2], outputs, seed=1)
    x1 = rng.standard_normal((7, 4)).astype(np.float32)
    x2 = rng.standard_normal((7, 3)).astype(np.float32)
    y = rng.standard_normal((7, 2)).astype(np.float32)
    W1, b1, W2, b2 = model.get_weights()
    h = np.maximum(x1 @ W1 + b1, 0)
    np.testing.assert_allclose(model.predict([x1, x2], verbose=0),
                               np.concatenate([h, x2, h], 1) @ W2 + b2, rtol=1e-5, atol=1e-5)
    _finite_difference_check(model, [x1, x2], y, rng)


def test_shared_layer_accumulates_both_uses(rng):
    inputs = layers.Input(shape=(5,))
    shared = layers.Dense(5, activation='relu')
    outputs = layers.Dense(2)(shared(shared(inputs)))
    model = Model(inputs, outputs, seed=2)
    assert model.count_params() == 5 * 5 + 5 + 5 * 2 + 2
    x = rng.standard_normal((6, 5)).astype(np.float32) + 1
    y = rng.standard_normal((6, 2)).astype(np.float32)
    _finite_difference_check(model, x, y, rng)


def test_activation_layers_and_linear_output(rng):
    inputs = layers.Input(shape=(4,))
    x = layers.ReLU()(layers.Dense(6)(inputs))
    x = layers.Activation('linear')(x)
    logits = layers.Dense(3)(x)
    model = Model(inputs, layers.Softmax()(logits), seed=0)
    data = rng.standard_normal((10, 4)).astype(np.float32)
    W1, b1, W2, b2 = model.get_weights()
    z = np.maximum(data @ W1 + b1, 0) @ W2 + b2
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(data, verbose=0), e / e.sum(1, keepdims=True), rtol=1e-5)
    # Training through a Softmax layer fuses it into the loss just like Dense(activation='softmax').
    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(data, rng.integers(0, 3, 10), epochs=2, verbose=0)


def test_graph_disconnected_and_bad_graphs():
    a, b = layers.Input(shape=(3,)), layers.Input(shape=(3,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match='disconnected'):
        Model(a, out)
    with pytest.raises(ValueError, match='one shape'):
        layers.Add()([a, layers.Input(shape=(4,))])
    with pytest.raises(ValueError, match='list of tensors'):
        layers.Add()(a)
    with pytest.raises(NotImplementedError, match='one output'):
        Model(a, [a, out])
    d = layers.Dense(2)
    d(a)
    with pytest.raises(ValueError, match='built for input shape'):
        d(layers.Input(shape=(5,)))


# ---- Sequential, shapes, seeds ----------------------------------------------------------------------------------
def test_sequential_matches_functional(rng):
    x, labels = blobs(rng, n=100)
    f = mlp(seed=7, functional=True)
    s = Sequential([layers.Input(shape=(12,))] + [layers.Dense(h, activation='relu') for h in (16, 8)] +
                   [layers.Dense(5, activation='softmax')], seed=7)
    for m in (f, s):
        m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    s.set_weights(f.get_weights())
    f.fit(x, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)
    s.fit(x, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(f.get_weights(), s.get_weights()):
        assert np.array_equal(a, b)


def test_sequential_learns_its_input_size_lazily(rng):
    model = Sequential([layers.Dense(7, activation='relu'), layers.Dense(3)])
    assert not model.built and model.weights == []
    with pytest.raises(ValueError, match='not been built'):
        model.summary()
    model.compile(optimizer='sgd', loss='mse')
    model.fit(rng.standard_normal((20, 11)).astype(np.float32), np.zeros((20, 3), np.float32), verbose=0)
    assert model.built and model.layers[0].kernel.shape == (11, 7)
    built = Sequential([layers.Dense(4, input_shape=(9,))])
    assert built.built and built.count_params() == 40
    later = Sequential([layers.Dense(4)])
    later.build((None, 6))
    assert later.get_weights()[0].shape == (6, 4)


def test_same_seed_is_bitwise_identical_and_thread_count_does_not_matter(rng):
    x, labels = blobs(rng, n=200, n_in=300)
    results = []
    for threads in (1, 2, 1):
        numbanet.set_num_threads(min(threads, numbanet.threads.numba.config.NUMBA_NUM_THREADS))
        model = mlp(hidden=(130, 70), n_in=300, seed=11)
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        model.fit(x, labels, batch_size=64, epochs=2, verbose=0)
        results.append(model.get_weights())
    numbanet.set_num_threads(numbanet.threads.numba.config.NUMBA_NUM_THREADS)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)
    different = mlp(hidden=(130, 70), n_in=300, seed=12).get_weights()
    assert not np.array_equal(different[0], mlp(hidden=(130, 70), n_in=300, seed=11).get_weights()[0])


def test_global_seed_makes_unseeded_models_repeat():
    numbanet.utils.set_random_seed(5)
    a = Sequential([layers.Input(shape=(4,)), layers.Dense(3)]).get_weights()
    numbanet.utils.set_random_seed(5)
    b = Sequential([layers.Input(shape=(4,)), layers.Dense(3)]).get_weights()
    assert np.array_equal(a[0], b[0])


def test_glorot_uniform_init_and_zero_bias():
    model = mlp(hidden=(200,), n_in=300, seed=0)
    W, b = model.get_weights()[:2]
    limit = np.sqrt(6 / 500)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit
    assert abs(W.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert not b.any()


# ---- memory: flat buffers and views --------------------------------------------------------------------------------
def test_weights_are_views_into_one_flat_buffer(rng):
    model = mlp()
    live = model.trainable_weights
    assert [w.shape for w in live] == [(12, 16), (16,), (16, 8), (8,), (8, 5), (5,)]
    assert all(np.shares_memory(w, model.parameters.values) for w in live)
    live[0][0, 0] = 42.0
    assert model.get_weights()[0][0, 0] == 42.0
    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')
    x, labels = blobs(rng, n=40)
    model.fit(x, labels, verbose=0)
    assert live[0][0, 0] != 42.0  # the optimizer updated the very array the user holds


_ALLOCATION_PROBE = """
import sys
import tracemalloc
import numpy as np
import numba.core.runtime as nrt
from numba.core.registry import CPUDispatcher
import numbanet
from numbanet.kernels import cpu
from tests.test_model import mlp

# numba registers one allocation (a MemInfo) for each array a Python call hands to a jitted function;
# count those hand-overs, so that whatever else the allocator counted was allocated inside a kernel.
handed = [0]
def counting(f):
    def call(*args):
        handed[0] += sum(isinstance(a, np.ndarray) for a in args)
        return f(*args)
    return call
for name, module in list(sys.modules.items()):
    if name.startswith('numbanet.kernels.cpu'):
        for attr, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher):
                setattr(module, attr, counting(value))

rng = np.random.default_rng(0)
model = mlp(hidden=(64, 32), n_in=100, n_out=10)
model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
x = rng.standard_normal((512, 100)).astype(np.float32)
y = numbanet.utils.to_categorical(rng.integers(0, 10, 512), 10)
model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # compile kernels, make the plan
xs, targets = model._data(x, y)
idx = np.arange(128)
comm = numbanet.distributed.SingleProcess()
model._train_step(xs, targets, idx, comm)
before, handed[0] = nrt.rtsys.get_allocation_stats().alloc, 0
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
for _ in range(20):
    model._train_step(xs, targets, idx, comm)
peak = tracemalloc.get_traced_memory()[1] - base
tracemalloc.stop()
print(peak, nrt.rtsys.get_allocation_stats().alloc - before - handed[0], handed[0])
"""


def test_training_step_allocates_nothing():
    # A subprocess, because numba counts its allocations only when NUMBA_NRT_STATS is set at start.
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_NRT_STATS='1', PYTHONPATH=root)
    out = subprocess.run([sys.executable, '-c', _ALLOCATION_PROBE], env=env, cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    python_peak, kernel_allocs, handed = int(out[-3]), int(out[-2]), int(out[-1])
    assert handed > 20 * 20  # the counting saw the kernel calls
    # The smallest buffer of that model is 128 x 10 float32 = 5 KB; a step may make only small Python
    # objects (views, floats), no arrays.
    assert python_peak < 4096, f"a training step allocated {python_peak} bytes of Python memory"
    assert kernel_allocs == 0, f"kernels allocated {kernel_allocs} arrays inside 20 training steps"


# ---- the rest of the API --------------------------------------------------------------------------------------------
def test_get_set_weights_round_trip_and_keras_order(rng):
    model = mlp()
    ws = model.get_weights()
    assert [w.shape for w in ws] == [(12, 16), (16,), (16, 8), (8,), (8, 5), (5,)]
    new = [rng.standard_normal(w.shape) for w in ws]  # float64 is converted
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b.astype(np.float32))
    layer = model.layers[1]
    layer.set_weights([np.ones((12, 16)), np.zeros(16)])
    assert model.get_weights()[0].sum() == 12 * 16


def test_summary_and_repr():
    lines = []
    mlp().summary(print_fn=lines.append)
    text = '\n'.join(lines)
    assert 'Dense' in text and '(None, 16)' in text and 'Total params: 389' in text
    inputs = layers.Input(shape=(3,))
    h = layers.Dense(3)(inputs)
    Model(inputs, layers.Add()([h, inputs])).summary(print_fn=lines.append)
    assert 'Connected to' in '\n'.join(lines)
    assert 'Dense' in repr(layers.Dense(3)) and 'units=3' in repr(layers.Dense(3))
    assert '389' in repr(mlp())


def test_predict_and_eager_call_agree(rng):
    model = mlp()
    x = rng.standard_normal((37, 12)).astype(np.float32)
    p = model.predict(x, batch_size=8, verbose=0)
    assert p.shape == (37, 5) and np.allclose(p.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(model(x), p, rtol=1e-6)
    dense = layers.Dense(4, activation='relu')
    out = dense(x)
    W, b = dense.get_weights()
    np.testing.assert_allclose(out, np.maximum(x @ W + b, 0), rtol=1e-5, atol=1e-6)


def test_history_and_progress_output(rng, capsys):
    x, labels = blobs(rng, n=100)
    model = mlp()
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(x, labels, batch_size=32, epochs=2, validation_split=0.2, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'Epoch 1/2' and out[2] == 'Epoch 2/2' and len(out) == 4  # not a tty: one line per epoch
    assert out[1].startswith('3/3 ') and 'ms/step' in out[1] or 'us/step' in out[1]
    for key in ('loss', 'accuracy', 'val_loss', 'val_accuracy'):
        assert f' - {key}: ' in out[1]
    assert history.epoch == [0, 1] and len(history.history['val_accuracy']) == 2


def test_early_stopping_restores_best(rng):
    x, labels = blobs(rng, n=100)
    model = mlp()
    model.compile(optimizer=numbanet.optimizers.SGD(0.0), loss='sparse_categorical_crossentropy')
    stop = numbanet.callbacks.EarlyStopping(monitor='loss', patience=1)
    history = model.fit(x, labels, epochs=10, callbacks=[stop], verbose=0)
    assert len(history.epoch) == 2  # lr 0: no improvement after the first epoch


def test_mse_model_with_mae_metric(rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    model = Sequential([layers.Input(shape=(3,)), layers.Dense(1)], seed=0)
    model.compile(optimizer=numbanet.optimizers.SGD(0.1), loss='mse', metrics=['mae'])
    model.fit(x, y, batch_size=16, epochs=60, verbose=0)
    loss, mae = model.evaluate(x, y, verbose=0)
    assert loss < 1e-4 and mae < 1e-2
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [1, -2, 0.5], atol=1e-2)


def test_fused_model_reports_metrics_on_probabilities(rng):
    # mse as a metric on a softmax model must see probabilities, not the logits used for training.
    x, labels = blobs(rng, n=64)
    y = numbanet.utils.to_categorical(labels, 5)
    model = mlp()
    model.compile(optimizer='sgd', loss='categorical_crossentropy', metrics=['mse'])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert logs['mse'] == pytest.approx(float(((p - y) ** 2).mean()), rel=1e-5)
    history = model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert history.history['mse'][0] == pytest.approx(logs['mse'], rel=1e-5)


def test_to_categorical():
    out = numbanet.utils.to_categorical([2, 0, 1], 4)
    assert out.dtype == np.float32 and out.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert numbanet.utils.to_categorical(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(ValueError, match='out of range'):
        numbanet.utils.to_categorical([3], 3)
    with pytest.raises(ValueError, match='>= 0'):
        numbanet.utils.to_categorical([-1], 3)
    with pytest.raises(TypeError):
        numbanet.utils.to_categorical(['a'], 3)


def test_set_num_threads_validates():
    numbanet.set_num_threads(1)
    assert numbanet.get_num_threads() == 1
    numbanet.set_num_threads(numbanet.threads.numba.config.NUMBA_NUM_THREADS)
    with pytest.raises(ValueError, match='positive int'):
        numbanet.set_num_threads(0)
    with pytest.raises(ValueError, match='at most'):
        numbanet.set_num_threads(10_000)


def test_early_stopping_restores_best_weights(rng):
    x, labels = blobs(rng, n=100)
    model = mlp()
    model.compile(optimizer=numbanet.optimizers.SGD(0.5), loss='sparse_categorical_crossentropy')
    best = {}

    class Spy(numbanet.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = (logs['val_loss'], self.model.get_weights())
    # A validation set the model cannot learn: val_loss rises once training fits the training set.
    val_x = rng.standard_normal((50, 12)).astype(np.float32) * 3
    stop = numbanet.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model.fit(x, labels, epochs=30, validation_data=(val_x, rng.integers(0, 5, 50)), callbacks=[Spy(), stop],
              verbose=0)
    assert stop.stopped_epoch > 0
    want = min(best.values(), key=lambda v: v[0])[1]
    for a, b in zip(model.get_weights(), want):
        np.testing.assert_array_equal(a, b)


def test_train_on_batch_and_friends(rng):
    x, labels = blobs(rng, n=64)
    a, b = mlp(seed=4), mlp(seed=4)
    for m in (a, b):
        m.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    loss, acc = a.train_on_batch(x, labels)
    history = b.fit(x, labels, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert loss == pytest.approx(history.history['loss'][0], rel=1e-6) and 0 <= acc <= 1
    for u, v in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(u, v)
    np.testing.assert_array_equal(a.predict_on_batch(x), a.predict(x, verbose=0))
    assert a.test_on_batch(x, labels) == pytest.approx(a.evaluate(x, labels, verbose=0), rel=1e-6)
