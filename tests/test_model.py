"""Model's API end to end: the reference program, compile/fit/evaluate/predict, training against an
independent numpy implementation, seeds, weights in and out, history, the *_on_batch calls."""

import numpy as np
import pytest

import numbanet
from numbanet import layers
from tests.helpers import blobs, mlp
from tests.helpers.reference_mlp import ReferenceMLP


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


# ---- seeds -------------------------------------------------------------------------------------------------------
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


def test_a_thread_count_set_after_the_plan_was_made_is_used(rng, monkeypatch):
    # Plans bind their kernel calls once; a product big enough for threads still reads the count on every call.
    if numbanet.threads.thread_ceiling() < 2:
        pytest.skip('needs NUMBA_NUM_THREADS >= 2')
    from numbanet.kernels.cpu import matmul
    x, labels = blobs(rng, n=128, n_in=300)
    seen, entry = [], matmul.gemm_entry
    monkeypatch.setattr(matmul, 'gemm_entry', lambda *args: (seen.append(args[-2]), entry(*args)))
    weights = []
    for counts in ((2, 1), (1, 1)):
        model = mlp(hidden=(130, 70), n_in=300, seed=11)
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        for threads in counts:
            numbanet.set_num_threads(threads)
            del seen[:]
            try:
                model.fit(x, labels, batch_size=64, epochs=1, verbose=0)
            finally:
                numbanet.set_num_threads(numbanet.threads.thread_ceiling())
            assert max(seen) == threads  # the 64 x 300 x 130 products (5 MFLOP) asked for this many
        weights.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


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


def test_predict_and_eager_call_agree(rng):
    model = mlp()
    x = rng.standard_normal((37, 12)).astype(np.float32)
    p = model.predict(x, batch_size=8, verbose=0)
    assert p.shape == (37, 5) and np.allclose(p.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(model(x), p, rtol=1e-6)


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


def test_nan_loss_stops_training_and_keeps_last_finite_weights(rng):
    x = rng.standard_normal((64, 3)).astype(np.float32) * 10
    y = rng.standard_normal((64, 1)).astype(np.float32) * 1e3
    model = numbanet.Sequential([layers.Input(shape=(3,)), layers.Dense(1)], seed=0)
    model.compile(optimizer=numbanet.optimizers.SGD(1e6), loss='mse')  # diverges within a few steps
    with pytest.warns(RuntimeWarning, match=r'loss became (nan|inf).*training stopped'):
        history = model.fit(x, y, batch_size=8, epochs=50, verbose=0)
    assert len(history.epoch) < 50
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert model.stop_training


def test_a_refused_compile_changes_nothing(rng):
    model = mlp()
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    x, labels = blobs(rng, n=64)
    model.fit(x, labels, epochs=1, verbose=0)
    optimizer, loss, state = model.optimizer, model.loss, model.optimizer.state_for(model.parameters)
    m = state['m'].copy()
    with pytest.raises(ValueError, match='unknown metric'):
        model.compile(optimizer='sgd', loss='categorical_crossentropy', metrics=['nope'])
    with pytest.raises(ValueError, match='reads integer labels'):
        model.compile(optimizer='sgd', loss='categorical_crossentropy', metrics=['sparse_categorical_accuracy'])
    assert model.optimizer is optimizer and model.loss is loss
    np.testing.assert_array_equal(model.optimizer.state_for(model.parameters)['m'], m)
    model.fit(x, labels, epochs=1, verbose=0)  # and it still trains


def test_compile_refuses_outputs_that_are_not_rows(rng):
    class Square(layers.Layer):
        def compute_output_shape(self, input_shape):
            return (2, 2)

        def forward(self, x, out, ctx):
            out[...] = x.reshape(out.shape)
    inputs = layers.Input(shape=(4,))
    model = numbanet.Model(inputs, Square()(inputs))
    with pytest.raises(ValueError, match=r'\(batch, features\)'):
        model.compile(optimizer='sgd', loss='mse')
    assert not model.compiled


def test_numpy_scalars_are_taken_for_learning_rate_and_validation_split(rng):
    model = numbanet.Sequential([layers.Input((3,)), layers.Dense(2)])
    model.compile(optimizer=numbanet.optimizers.SGD(learning_rate=np.float32(0.1)), loss='mse')
    history = model.fit(rng.standard_normal((20, 3)), rng.standard_normal((20, 2)),
                        validation_split=np.float32(0.25), verbose=0)
    assert 'val_loss' in history.history and model.optimizer.learning_rate == pytest.approx(0.1)
