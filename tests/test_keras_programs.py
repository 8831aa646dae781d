"""Keras programs of four kinds, written as Keras code with only the import changed."""
import os

import numpy as np
import pytest

import numbanet as keras
from numbanet import layers


def _classes(seed, n=600, features=20, classes=4):
    # Each class its own cluster: learnable in a few epochs, so accuracy far above chance means training works.
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)).astype('float32') * 2
    labels = rng.integers(0, classes, n)
    x = centers[labels] + 0.7 * rng.standard_normal((n, features)).astype('float32')
    return x.astype('float32'), labels


def test_sequential_with_rmsprop_and_dropout():
    # keras/examples mnist_mlp.py, on a small synthetic data set
    x, labels = _classes(0)
    y = keras.utils.to_categorical(labels, 4)
    model = keras.Sequential([
        layers.Dense(64, activation='relu', input_shape=(20,)),
        layers.Dropout(0.2),
        layers.Dense(64, activation='relu'),
        layers.Dropout(0.2),
        layers.Dense(4, activation='softmax'),
    ])
    model.compile(loss='categorical_crossentropy', optimizer=keras.optimizers.RMSprop(), metrics=['accuracy'])
    history = model.fit(x[:500], y[:500], batch_size=32, epochs=5, verbose=0, validation_data=(x[500:], y[500:]))
    score = model.evaluate(x[500:], y[500:], verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert score[1] > 0.9  # chance is 0.25


def test_functional_api_guide_model():
    # keras.io/guides/functional_api: named layers, validation_split
    inputs = keras.Input(shape=(20,), name='digits')
    x = layers.Dense(64, activation='relu', name='dense_1')(inputs)
    x = layers.Dense(64, activation='relu', name='dense_2')(x)
    outputs = layers.Dense(4, name='predictions')(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name='mnist_model')
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=['accuracy'])
    x_train, y_train = _classes(1)
    history = model.fit(x_train, y_train, batch_size=64, epochs=4, validation_split=0.2, verbose=0)
    assert sorted(history.history) == ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    assert history.history['val_accuracy'][-1] > 0.9
    assert [layer.name for layer in model.layers] == ['digits', 'dense_1', 'dense_2', 'predictions']
    assert model.get_layer('predictions').output.shape == (None, 4)


def test_generator_with_callbacks(tmp_path):
    x, labels = _classes(2, n=640)

    def batches():
        while True:
            for start in range(0, 512, 64):
                yield x[start:start + 64], labels[start:start + 64]

    inputs = keras.Input(shape=(20,))
    hidden = layers.Dense(32, activation='relu')(inputs)
    model = keras.Model(inputs, layers.Dense(4, activation='softmax')(hidden))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    path = str(tmp_path / 'best.safetensors')
    callbacks = [
        keras.callbacks.EarlyStopping(monitor='val_loss', patience=2, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(path, monitor='val_loss', save_best_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor='val_loss', factor=0.5, patience=1),
    ]
    history = model.fit(batches(), steps_per_epoch=8, epochs=6, validation_data=(x[512:], labels[512:]),
                        callbacks=callbacks, verbose=0)
    assert len(history.history['loss']) >= 3 and os.path.getsize(path) > 0
    best = keras.models.load_model(path)  # the checkpoint holds the epoch with the lowest val_loss
    val_loss, val_accuracy = best.evaluate(x[512:], labels[512:], verbose=0)
    assert val_loss == pytest.approx(min(history.history['val_loss']), rel=1e-5) and val_accuracy > 0.9
    assert float(model.optimizer.learning_rate) <= 0.05


def test_feature_extractor_from_layer_output():
    # keras.io/guides/functional_api "Extract and reuse nodes in the graph of layers"
    model = keras.Sequential([
        keras.Input(shape=(20,)),
        layers.Dense(16, activation='relu', name='dense_1'),
        layers.Dense(8, activation='relu', name='dense_2'),
        layers.Dense(4, activation='softmax'),
    ])
    x, labels = _classes(3, n=200)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, labels, epochs=2, verbose=0)
    extractor = keras.Model(inputs=model.inputs, outputs=model.get_layer('dense_2').output)
    features = extractor(x[:10])
    (k1, b1), (k2, b2) = model.get_layer('dense_1').get_weights(), model.get_layer('dense_2').get_weights()
    expected = np.maximum(np.maximum(x[:10] @ k1 + b1, 0) @ k2 + b2, 0)
    assert features.shape == (10, 8)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
    all_features = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers][1])
    assert all_features.predict(x[:3], verbose=0).shape == (3, 8)
    with pytest.raises(NotImplementedError):  # several outputs at once: not in numbanet yet
        keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
