"""The fast way of small-batch inference (issue #17): model(x), predict_on_batch(x) and a one-batch predict(x)
on a ready float32 array skip the general input checks (checks.ready_inputs) and the batch loop. Each must
give what the general way gives, refuse what it refuses with the same errors, and hand back arrays the
caller owns."""
import threading
import warnings

import numpy as np
import pytest

from numbanet import Model, Sequential, callbacks, layers
from numbanet.checks import DtypeError, ready_inputs


def mlp(seed=0):
    model = Sequential([layers.Input((13,)), layers.Dense(17, activation='relu'), layers.Dense(9, activation='relu'),
                        layers.Dense(5, activation='softmax')], seed=seed)
    model.compile(loss='sparse_categorical_crossentropy')
    return model


def two_outputs():
    inputs = layers.Input((7,))
    h = layers.Dense(11, activation='relu')(inputs)
    model = Model(inputs, [layers.Dense(3, activation='softmax')(h), layers.Dense(2)(h)], seed=2)
    return model


def two_inputs():
    a, b = layers.Input((5,)), layers.Input((3,))
    merged = layers.Concatenate()([layers.Dense(6, activation='relu')(a), b])
    return Model([a, b], layers.Dense(4)(merged), seed=3)


def with_dropout():
    return Sequential([layers.Input((10,)), layers.Dense(33, activation='relu'), layers.Dropout(0.5),
                       layers.Dense(4)], seed=4)


def convnet():
    return Sequential([layers.Input((9, 11, 2)), layers.Conv2D(5, 3, activation='relu'), layers.MaxPooling2D(2),
                       layers.Flatten(), layers.Dense(3, activation='softmax')], seed=5)


def data(model, n, rng):
    xs = [rng.standard_normal((n,) + t.shape[1:]).astype(np.float32) for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def general(model, x):
    """The same batch the general way: float64 data goes through input_arrays, a callback through the batch loop."""
    wide = [a.astype(np.float64) for a in x] if isinstance(x, list) else x.astype(np.float64)
    n = (x[0] if isinstance(x, list) else x).shape[0]
    return model.predict(wide, batch_size=n, verbose=0, callbacks=[callbacks.Callback()])


def as_list(out):
    return out if isinstance(out, list) else [out]


FAST = {'call': lambda m, x: m(x), 'predict_on_batch': lambda m, x: m.predict_on_batch(x),
        'predict': lambda m, x: m.predict(x, verbose=0)}


@pytest.mark.parametrize('make', [mlp, two_outputs, two_inputs, with_dropout, convnet])
@pytest.mark.parametrize('way', sorted(FAST))
def test_fast_way_gives_the_general_way_bit_for_bit(make, way, rng):
    # The same kernels run on the same buffers: the results must be identical, not merely close.
    model = make()
    for n in (1, 3, 1, 6):
        x = data(model, n, rng)
        assert ready_inputs(x, model.inputs) is not None
        for got, want in zip(as_list(FAST[way](model, x)), as_list(general(model, x))):
            assert got.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_mlp_against_numpy_across_batch_sizes(rng):
    model = mlp()
    w = model.get_weights()
    for n in (1, 4, 1, 7, 2):
        x = rng.standard_normal((n, 13)).astype(np.float32)
        h = np.maximum(np.maximum(x @ w[0] + w[1], 0) @ w[2] + w[3], 0) @ w[4] + w[5]
        want = np.exp(h - h.max(1, keepdims=True))
        want /= want.sum(1, keepdims=True)
        for way in FAST.values():
            np.testing.assert_allclose(way(model, x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('make', [mlp, two_outputs])
def test_results_are_the_callers_own(make, rng):
    model = make()
    x1, x2 = data(model, 1, rng), data(model, 1, rng)
    for way in FAST.values():
        first = as_list(way(model, x1))
        kept = [a.copy() for a in first]
        second = as_list(way(model, x2))
        for a, b, k, o in zip(first, second, kept, model.plan(1).outputs):
            assert not np.shares_memory(a, o.output) and not np.shares_memory(a, b)
            np.testing.assert_array_equal(a, k)  # the next call left it alone
            a[...] = 7  # and writing into it changes nothing the model keeps
        np.testing.assert_array_equal(as_list(way(model, x2))[0], second[0])


@pytest.mark.parametrize('way', sorted(FAST))
def test_bad_inputs_are_refused_as_before(way, rng):
    model = mlp()
    call = FAST[way]
    before = [w.copy() for w in model.get_weights()]
    x = rng.standard_normal((1, 13)).astype(np.float32)
    with pytest.raises(ValueError, match=r"x has shape \(1, 12\), but input .* expects \(N,\) \+ \(13,\)"):
        call(model, x[:, :12].copy())
    with pytest.raises(ValueError, match=r"x has shape \(13,\)"):
        call(model, x[0])
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[0, 5] = bad
        with pytest.raises(ValueError, match=r"x contains 1 NaN or Inf value\(s\) \(first at index \(0, 5\)\)"):
            call(model, y)
    with pytest.raises(DtypeError, match="strings"):
        call(model, np.array([['a'] * 13]))
    with pytest.raises(ValueError, match="x is empty"):
        call(model, x[:0])
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore:overflow encountered in dot:RuntimeWarning")
def test_ready_inputs_takes_only_what_needs_no_conversion(rng):
    model, pair = mlp(), two_inputs()
    x = rng.standard_normal((3, 13)).astype(np.float32)
    assert ready_inputs(x, model.inputs)[0] is x
    assert ready_inputs([x], model.inputs)[0] is x
    a, b = rng.standard_normal((2, 5)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    assert [r is s for r, s in zip(ready_inputs((a, b), pair.inputs), (a, b))] == [True, True]
    strided = np.ones((3, 26), np.float32)[:, ::2]
    big = np.full((1, 13), 1e20, np.float32)  # finite, and its sum of squares would overflow: still the quick way
    assert ready_inputs(big, model.inputs)[0] is big
    for other in (x.astype(np.float64), x.astype('>f4'), np.asfortranarray(x), strided, x[:0], x.tolist(), x[0],
                  [x, x]):
        assert ready_inputs(other, model.inputs) is None
    for other in ((a, b[:1]), a, [a], [a, b.astype(np.float64)]):
        assert ready_inputs(other, pair.inputs) is None
    np.testing.assert_array_equal(model.predict_on_batch(big), general(model, big))
    np.testing.assert_array_equal(model(np.asfortranarray(x)), model(x))


def test_weights_and_buffers_start_on_a_cache_line(rng):
    # 512-bit loads of a row of weights stay within one cache line each (backend.CPUBackend.empty).
    model = mlp()
    model(rng.standard_normal((1, 13)).astype(np.float32))
    arrays = [model.parameters.values, model.parameters.grads] + [v for v in model.plan(1).values if v is not None]
    assert [a.ctypes.data % 64 for a in arrays] == [0] * len(arrays)


def test_training_mode_keeps_its_semantics(rng):
    model = with_dropout()
    x = rng.standard_normal((4, 10)).astype(np.float32)
    inference = model.predict(x, verbose=0)
    first, second = model(x, training=True), model(x, training=True)
    assert not np.array_equal(first, inference) and not np.array_equal(first, second)  # a new draw each call
    np.testing.assert_array_equal(model(x), inference)
    np.testing.assert_array_equal(model(x, training=False), inference)


def test_batch_normalization_moves_only_in_training_mode(rng):
    model = Sequential([layers.Input((6,)), layers.Dense(8), layers.BatchNormalization(), layers.Dense(2)], seed=6)
    x = rng.standard_normal((5, 6)).astype(np.float32) + 3
    state = [w.copy() for w in model.get_weights()]
    model(x)
    model.predict_on_batch(x)
    model.predict(x, verbose=0)
    for got, want in zip(model.get_weights(), state):
        np.testing.assert_array_equal(got, want)
    model(x, training=True)
    assert any(not np.array_equal(got, want) for got, want in zip(model.get_weights(), state))


def test_an_unbuilt_sequential_builds_on_the_first_call(rng):
    x = rng.standard_normal((2, 4)).astype(np.float32)
    model = Sequential([layers.Dense(3, activation='relu'), layers.Dense(2)], seed=7)
    out = model.predict_on_batch(x)
    np.testing.assert_array_equal(out, general(model, x))
    np.testing.assert_array_equal(model(x[:1]), out[:1])


def test_threads_sharing_a_model_get_their_own_answers(rng):
    model = mlp()
    xs = [rng.standard_normal((n, 13)).astype(np.float32) for n in (1, 2, 1, 3)]
    want = [general(model, x) for x in xs]
    errors = []

    def worker(i):
        for _ in range(50):
            got = (model if i % 2 else model.predict_on_batch)(xs[i])
            if not np.array_equal(got, want[i]):
                errors.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_layers_shared_with_a_model_that_trains_predict_its_new_weights(rng):
    # Training b moves the shared weights into b's buffers and changes them; a takes them back when it runs.
    inputs = layers.Input((6,))
    shared = layers.Dense(5)
    a = Model(inputs, layers.Dense(3)(shared(inputs)), seed=8)
    b = Model(inputs, layers.Dense(2)(shared(inputs)), seed=9)
    x = rng.standard_normal((1, 6)).astype(np.float32)
    before = a(x)
    b.compile(optimizer='sgd', loss='mse')
    b.fit(rng.standard_normal((8, 6)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32),
          epochs=2, verbose=0)
    after = a(x)
    assert not np.array_equal(after, before)
    w1, b1, w2, b2 = a.get_weights()
    np.testing.assert_allclose(after, (x @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.predict_on_batch(x), after)


def test_a_dense_subclass_runs_its_own_forward(rng):
    class Doubled(layers.Dense):
        def forward(self, x, out, ctx):
            super().forward(x, out, ctx)
            out *= 2

    model = Sequential([layers.Input((4,)), Doubled(3)], seed=10)
    x = rng.standard_normal((1, 4)).astype(np.float32)
    w, b = model.get_weights()
    np.testing.assert_allclose(model(x), 2 * (x @ w + b), rtol=1e-6)


@pytest.mark.parametrize('value', [3e38, -3e38, 1e-30])
def test_extreme_finite_inputs_take_the_quick_way_without_a_warning(value):
    # The finite check must neither overflow nor raise a floating-point warning on valid data.
    model = mlp()
    x = np.full((1, 13), value, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert ready_inputs(x, model.inputs) is not None
        assert np.isfinite(model(x)).all() or value != 1e-30


@pytest.mark.parametrize('bad', [np.inf, -np.inf, np.nan])
def test_non_finite_inputs_are_refused_without_a_warning_first(bad):
    model = mlp()
    x = np.zeros((1, 13), np.float32)
    x[0, 7] = bad
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert ready_inputs(x, model.inputs) is None
        with pytest.raises(ValueError, match='NaN or Inf'):
            model(x)
