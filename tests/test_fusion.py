"""Conv2D(activation='relu') followed by MaxPooling2D(2) runs as one fused step (Layer.fuse, plan.py), with the
results of the two layers run apart up to float rounding; whatever else, and a conv output the user asks for,
lowers as before."""
import contextlib

import numpy as np
import pytest

import numbanet
from numbanet import layers, plan
from numbanet.layers.convolutional import ConvReluMaxPool


@pytest.fixture
def unfused(monkeypatch):
    """unfused(): a context in which plans are made without fusion, the reference for the fused plans."""
    @contextlib.contextmanager
    def switch():
        with monkeypatch.context() as m:
            m.setattr(plan, 'FUSE', False)
            yield
    return switch


def fused_steps(model, batch):
    return sum(isinstance(getattr(s, 'layer', None), ConvReluMaxPool) for s in model.plan(batch).steps)


def convnet(conv=None, pool=None, shape=(17, 16, 3), seed=3):
    """Keras's simple MNIST convnet in small: two Conv2D relu + MaxPooling2D pairs, odd sizes (15 rows out of the
    first convolution: its pooling drops one), Dropout and a Dense softmax."""
    return numbanet.Sequential([
        layers.Input(shape), layers.Conv2D(**{'filters': 5, 'kernel_size': 3, 'activation': 'relu', **(conv or {})}),
        layers.MaxPooling2D(**{'pool_size': 2, **(pool or {})}),
        layers.Conv2D(7, 2, activation='relu'), layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
        layers.Dense(4, activation='softmax')], seed=seed)


def train(model, x, y, epochs=2, batch_size=10):
    model.compile(optimizer=numbanet.optimizers.Adam(1e-2), loss='sparse_categorical_crossentropy')
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=False)
    return history.history['loss'], model.get_weights(), model.predict(x, verbose=0)


def data(shape=(17, 16, 3), n=30):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, 4, n)


def assert_same_training(a, b):
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5)
    for wa, wb in zip(a[1], b[1]):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('conv', [{}, {'strides': 2}, {'dilation_rate': 2}, {'padding': 'same'},
                                  {'use_bias': False}, {'kernel_size': (2, 4), 'padding': 'same'}],
                         ids=['plain', 'strides', 'dilation', 'same', 'no-bias', 'even-kernel'])
def test_a_fused_training_run_matches_the_unfused_one(unfused, conv):
    kwargs = dict(conv)
    x, y = data()
    model = convnet(kwargs)
    fused = train(model, x, y)
    assert fused_steps(model, 10) == 2
    with unfused():
        reference = convnet(kwargs)
        assert fused_steps(reference, 10) == 0
        apart = train(reference, x, y)
    assert_same_training(fused, apart)


def test_the_fused_plan_makes_no_buffer_for_the_conv_output():
    model = convnet()
    p = model.plan(6)
    assert p.values[1] is None and p.values[3] is None  # the two conv outputs (tensor 0 is the input)
    assert p.values[2].shape == (6, 7, 7, 5)


@pytest.mark.parametrize('pool', [{'pool_size': 3}, {'strides': 1}, {'padding': 'same'}, {'pool_size': (2, 1)}])
def test_other_poolings_are_not_fused(pool):
    model = convnet(pool=pool)
    assert fused_steps(model, 4) == 1  # the second pair only


def test_what_does_not_fit_the_pattern_runs_apart(rng):
    inputs = layers.Input((9, 8, 2))
    tanh = layers.MaxPooling2D()(layers.Conv2D(3, 3, activation='tanh')(inputs))
    linear = layers.MaxPooling2D()(layers.Conv2D(3, 3)(inputs))
    conv = layers.Conv2D(3, 3, activation='relu')(inputs)  # read twice: by a pooling and by Flatten
    seq = layers.MaxPooling1D()(layers.Conv1D(3, 3, activation='relu')(layers.Reshape((72, 2))(inputs)))
    outputs = layers.Concatenate()([layers.Flatten()(t) for t in (tanh, linear, layers.MaxPooling2D()(conv), conv,
                                                                    seq)])
    model = numbanet.Model(inputs, outputs)
    assert fused_steps(model, 4) == 0


def test_a_conv_output_the_user_asks_for_is_made(unfused):
    # A feature extractor whose outputs are the conv layer and its pooling: no fusion, both outputs computed.
    x, _ = data()
    model = convnet()
    conv, pool = model.layers[0], model.layers[1]
    extractor = numbanet.Model(model.inputs, [conv.output, pool.output])
    assert fused_steps(extractor, 5) == 0
    features, pooled = extractor.predict(x, verbose=0)
    assert features.shape == (30, 15, 14, 5) and pooled.shape == (30, 7, 7, 5)
    np.testing.assert_array_equal(pooled, features[:, :14, :14].reshape(30, 7, 2, 7, 2, 5).max(axis=(2, 4)))
    # The whole model, fused, predicts what the unfused one does.
    got = model.predict(x, verbose=0)
    with unfused():
        want = numbanet.Model(model.inputs, model.outputs).predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_a_frozen_fused_conv_passes_the_input_gradient_only(unfused):
    x, y = data()
    runs = []
    for fuse in (True, False):
        with contextlib.nullcontext() if fuse else unfused():
            model = convnet()
            model.layers[2].trainable = False  # the second conv: its input gradient is still needed
            runs.append(train(model, x, y))
            assert fused_steps(model, 10) == (2 if fuse else 0)
    assert_same_training(*runs)
    np.testing.assert_array_equal(runs[0][1][2], convnet().get_weights()[2])  # the frozen kernel did not move


def test_a_fused_step_does_not_depend_on_the_thread_count():
    x, y = data(shape=(28, 28, 1), n=64)
    runs = []
    threads = numbanet.get_num_threads()
    try:
        for n in sorted({1, 2, threads}):
            numbanet.set_num_threads(n)
            # batch 32: enough columns for the parallel drivers, 4 parts of images
            runs.append(train(convnet(shape=(28, 28, 1)), x, y, epochs=1, batch_size=32))
    finally:
        numbanet.set_num_threads(threads)
    for a, b in zip(runs[0][1] + [runs[0][2]], runs[-1][1] + [runs[-1][2]]):
        np.testing.assert_array_equal(a, b)
