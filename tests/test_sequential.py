"""Sequential: the same model as the functional one, and an input size learned at the first call."""

import numpy as np
import pytest

from numbanet import layers
from numbanet import Sequential
from tests.helpers import blobs, mlp


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


def test_a_refused_add_leaves_the_model_as_it_was(rng):
    model = Sequential([layers.Input(shape=(4,)), layers.Dense(3)])
    with pytest.raises(ValueError, match='merges several inputs'):
        model.add(layers.Add())

    class NeedsTwoFeatures(layers.Layer):
        def build(self, input_shape):
            if input_shape != (2,):
                raise ValueError(f"wants 2 features, got {input_shape}")
    with pytest.raises(ValueError, match='wants 2 features'):
        model.add(NeedsTwoFeatures())
    assert len(model.layers) == 1 and model.graph.output.shape == (None, 3)
    model.add(layers.Dense(2))  # later adds still work
    assert model.predict(rng.standard_normal((5, 4)), verbose=0).shape == (5, 2)


def test_compiled_before_its_layers_are_added(rng):
    # Keras lets compile come first; what it means is settled when the model is used.
    model = Sequential([layers.Input(shape=(4,))])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.add(layers.Dense(8, activation='relu'))
    model.add(layers.Dense(3, activation='softmax'))
    history = model.fit(rng.standard_normal((20, 4)), rng.integers(0, 3, 20), epochs=1, verbose=0)
    assert set(history.history) == {'loss', 'accuracy'}


def test_a_refused_fit_leaves_an_unbuilt_model_unbuilt(rng):
    model = Sequential([layers.Dense(3, activation='softmax')])
    model.compile(optimizer='adam', loss='categorical_crossentropy')
    x, y = rng.standard_normal((16, 4)), np.eye(3)[rng.integers(0, 3, 16)]
    with pytest.raises(ValueError, match='16 samples but y has 10'):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match='validation_split'):
        model.fit(x, y, validation_split=0.01, verbose=0)
    with pytest.raises(ValueError, match='sample_weight'):
        model.train_on_batch(x, y, sample_weight=np.ones(3))
    assert not model.built and model.weights == [] and not model.layers[0].built
    model.fit(rng.standard_normal((16, 6)), y, verbose=0)  # the width the user meant
    assert model.layers[0].kernel.shape == (6, 3)


def test_compile_of_an_unbuilt_model_refuses_an_unknown_metric_at_once():
    model = Sequential([layers.Dense(3, activation='softmax')])
    model.compile(optimizer='adam', loss='categorical_crossentropy')
    optimizer = model.optimizer
    with pytest.raises(ValueError, match='unknown metric'):
        model.compile(optimizer='sgd', loss='mse', metrics=['nope'])
    assert model.optimizer is optimizer and model.loss.name == 'categorical_crossentropy'
