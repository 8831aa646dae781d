"""Keras programs of five kinds, written as Keras code with only the import changed."""
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


def test_multi_input_multi_output_ticket_classifier():
    # keras.io/guides/functional_api "Models with multiple inputs and outputs", scaled down, the title and body as
    # bags of words (numbanet has no Embedding or LSTM), with targets that the inputs decide
    num_tags, num_words, num_departments = 12, 60, 4
    title_input = keras.Input(shape=(num_words,), name='title')
    body_input = keras.Input(shape=(num_words,), name='body')
    tags_input = keras.Input(shape=(num_tags,), name='tags')
    title_features = layers.Dense(32, activation='relu')(title_input)
    body_features = layers.Dense(16, activation='relu')(body_input)
    x = layers.Concatenate()([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name='priority')(x)
    department_pred = layers.Dense(num_departments, name='department')(x)
    # Seeded: drawn from the global generator, the weights depended on the tests run before, and one start in
    # eight (seed 6) falls short of the 10% loss drop below within 8 epochs.
    model = keras.Model(inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred],
                        seed=0)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=[keras.losses.BinaryCrossentropy(from_logits=True),
                        keras.losses.CategoricalCrossentropy(from_logits=True)],
                  loss_weights=[1.0, 0.2], metrics={'department': ['accuracy']})
    rng = np.random.default_rng(4)
    title_data = rng.integers(0, 2, size=(1280, num_words)).astype('float32')
    body_data = rng.integers(0, 2, size=(1280, num_words)).astype('float32')
    tags_data = rng.integers(0, 2, size=(1280, num_tags)).astype('float32')
    priority_targets = (tags_data[:, :6].sum(1, keepdims=True) > 3).astype('float32')
    dept_targets = keras.utils.to_categorical(np.argmax(title_data[:, :num_departments] * [1, 2, 3, 4], 1),
                                              num_departments)
    history = model.fit([title_data, body_data, tags_data], {'priority': priority_targets, 'department': dept_targets},
                        epochs=8, batch_size=32, verbose=0, validation_split=0.2)
    logs = history.history
    assert sorted(logs) == sorted(['loss', 'priority_loss', 'department_loss', 'department_accuracy',
                                   'val_loss', 'val_priority_loss', 'val_department_loss', 'val_department_accuracy'])
    np.testing.assert_allclose(logs['val_loss'], np.add(logs['val_priority_loss'],
                                                        0.2 * np.array(logs['val_department_loss'])), rtol=1e-5)
    assert all(a > b for a, b in zip(logs['loss'], logs['loss'][1:]))
    for name in ('priority_loss', 'department_loss', 'val_priority_loss', 'val_department_loss'):
        assert logs[name][-1] < 0.9 * logs[name][0]
    assert logs['department_accuracy'][-1] > logs['department_accuracy'][0] + 0.1
    priority, department = model.predict([title_data[:5], body_data[:5], tags_data[:5]], verbose=0)
    assert priority.shape == (5, 1) and department.shape == (5, num_departments)
    assert model.metrics_names == ['loss', 'priority_loss', 'department_loss', 'department_accuracy']


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
    every = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    outs = every(x[:10])
    assert [o.shape for o in outs] == [(10, 16), (10, 8), (10, 4)]
    np.testing.assert_allclose(outs[1], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs[2], model.predict(x[:10], verbose=0), rtol=1e-5, atol=1e-6)
