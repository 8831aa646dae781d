"""Integer and bool input data (uint8 images): kept as the user's array, cast to float32 a batch at a time as it
is gathered, with results identical to passing x.astype('float32'), as in Keras."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.checks import input_arrays
from tests.helpers import mlp


def _pixels(rng, n=90, shape=(12,)):
    return rng.integers(0, 256, (n,) + shape).astype(np.uint8)


def _scaled_mlp(n_in=12):
    inputs = layers.Input(shape=(n_in,))
    x = layers.Dense(16, activation='relu')(layers.Rescaling(1 / 255, offset=-0.5)(inputs))
    return numbanet.Model(inputs, layers.Dense(5, activation='softmax')(x), seed=0)


def _fit_both(build, x, y, **fit):
    """(model fitted on x, model fitted on x as float32), the same seed and settings."""
    models = []
    for data in (x, x.astype(np.float32)):
        model = build()
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
        model.fit(data, y, verbose=0, **fit)
        models.append(model)
    return models


@pytest.mark.parametrize('dtype', [np.uint8, np.int16, np.int64, np.uint64, bool])
def test_integer_inputs_train_and_predict_as_their_float32_copy(rng, dtype):
    x = (_pixels(rng) > 127) if dtype is bool else _pixels(rng).astype(dtype)
    y = rng.integers(0, 5, len(x))
    a, b = _fit_both(_scaled_mlp, x, y, batch_size=16, epochs=2, validation_split=0.2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.history.history == b.history.history
    xf = x.astype(np.float32)
    for batch_size in (7, 200):  # several batches, and the one-batch branch
        np.testing.assert_array_equal(a.predict(x, batch_size=batch_size, verbose=0),
                                      a.predict(xf, batch_size=batch_size, verbose=0))
    assert a.evaluate(x, y, batch_size=8, verbose=0) == a.evaluate(xf, y, batch_size=8, verbose=0)
    np.testing.assert_array_equal(a(x[:5]), a(xf[:5]))
    np.testing.assert_array_equal(a.predict_on_batch(x[:3]), a.predict_on_batch(xf[:3]))


def test_validation_data_sample_weights_and_train_on_batch_take_integers(rng):
    x, y, w = _pixels(rng), rng.integers(0, 5, 90), rng.random(90).astype(np.float32)
    x_val, y_val = _pixels(rng, 20), rng.integers(0, 5, 20)
    a, b = (_scaled_mlp() for _ in range(2))
    for model, xs in ((a, (x, x_val)), (b, (x.astype(np.float32), x_val.astype(np.float32)))):
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        model.fit(xs[0], y, batch_size=32, epochs=2, sample_weight=w, validation_data=(xs[1], y_val), verbose=0)
        model.train_on_batch(xs[0][:10], y[:10])
    assert a.history.history == b.history.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_the_users_array_is_kept_not_copied(rng):
    x = _pixels(rng)
    model = _scaled_mlp()
    kept = input_arrays(x, model.graph.inputs, 'x', model.name)[0]
    assert kept is x and kept.dtype == np.uint8
    strided = _pixels(rng, shape=(24,))[:, ::2]  # not contiguous: one uint8 copy, never a float32 one
    made = input_arrays(strided, model.graph.inputs, 'x', model.name)[0]
    assert made.dtype == np.uint8 and made.flags.c_contiguous and np.array_equal(made, strided)
    floats = input_arrays(x.astype(np.float64), model.graph.inputs, 'x', model.name)[0]
    assert floats.dtype == np.float32  # float64 converts, as before


def test_images_of_odd_shapes_in_uint8(rng):
    x, y = _pixels(rng, 33, (5, 3, 2)), rng.integers(0, 3, 33)

    def build():
        inputs = layers.Input(shape=(5, 3, 2))
        h = layers.Flatten()(layers.Rescaling(1 / 127.5, offset=-1)(inputs))
        return numbanet.Model(inputs, layers.Dense(3, activation='softmax')(h), seed=1)
    a, b = _fit_both(build, x, y, batch_size=10, epochs=1)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x.astype(np.float32), verbose=0))


def test_float_inputs_are_still_checked_for_nan(rng):
    model = mlp()
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    x = rng.standard_normal((10, 12))
    x[3, 4] = np.nan
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"NaN or Inf value\(s\) \(first at index \(3, 4\)\)"):
        model.fit(x, rng.integers(0, 5, 10), verbose=0)
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_integer_inputs_of_a_wrong_shape_are_refused(rng):
    with pytest.raises(ValueError, match=r"x has shape \(10, 11\), but input"):
        _scaled_mlp().predict(_pixels(rng, 10, (11,)), verbose=0)


def test_generator_batches_of_uint8_train_as_float32_ones(rng):
    x, y = _pixels(rng, 40), rng.integers(0, 5, 40)
    models = []
    for data in (x, x.astype(np.float32)):
        model = _scaled_mlp()
        model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')
        model.fit(((data[i:i + 8], y[i:i + 8]) for i in range(0, 40, 8)), epochs=1, verbose=0)
        models.append(model)
    for wa, wb in zip(*(m.get_weights() for m in models)):
        np.testing.assert_array_equal(wa, wb)


def test_a_sequential_without_input_builds_from_uint8_without_a_float_copy(rng, monkeypatch):
    # Learning the input size from the first data must not convert the whole data set to float32.
    import numbanet.checks as checks
    x, y = _pixels(rng), rng.integers(0, 5, 90)
    converted = []
    real = checks.as_float_array
    spy = lambda a, what: converted.append(np.shape(a)) or real(a, what)  # noqa: E731
    monkeypatch.setattr(checks, 'as_float_array', spy)
    monkeypatch.setattr(numbanet.sequential, 'as_float_array', spy, raising=False)  # a name it may import
    model = numbanet.Sequential([layers.Rescaling(1 / 255), layers.Dense(5, activation='softmax')], seed=0)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.built and (90, 12) not in converted  # (the weights' own conversions are not data)
    reference = numbanet.Sequential([layers.Rescaling(1 / 255), layers.Dense(5, activation='softmax')], seed=0)
    reference.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    reference.fit(x.astype(np.float32), y, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
