"""Models with two outputs: a training step against a numpy reference, logs and evaluate against the same outputs
in single-output models, save/load, and bad targets refused naming the output with the model left as it was."""
import importlib.util

import numpy as np
import pytest

import numbanet
from numbanet import layers, models, optimizers

N, F = 9, 4  # odd sizes


def two_heads(seed=0):
    inputs = layers.Input(shape=(F,), name='x')
    h = layers.Dense(5, activation='relu', name='h')(inputs)
    cls = layers.Dense(3, activation='softmax', name='cls')(h)
    reg = layers.Dense(2, name='reg')(h)
    return numbanet.Model(inputs, [cls, reg], seed=seed), inputs, cls, reg


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return (rng.standard_normal((N, F)).astype(np.float32), rng.integers(0, 3, N),
            rng.standard_normal((N, 2)).astype(np.float32), rng.uniform(0.2, 2.0, N).astype(np.float32))


def reference_loss(params, x, labels, targets, weights, loss_weights):
    """The Keras loss of the two-head model in float64: weighted sum of each output's sum_over_batch_size loss."""
    w1, b1, w2, b2, w3, b3 = params
    h = np.maximum(x @ w1 + b1, 0)
    z = h @ w2 + b2
    log_p = z - z.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    ce = -log_p[np.arange(len(labels)), labels]
    mse = ((h @ w3 + b3 - targets) ** 2).mean(1)
    return loss_weights[0] * np.mean(weights * ce) + loss_weights[1] * np.mean(weights * mse)


def finite_difference_gradients(params, *args):
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + 1e-6
            up = reference_loss(params, *args)
            p[i] = old - 1e-6
            down = reference_loss(params, *args)
            p[i] = old
            g[i] = (up - down) / 2e-6
        grads.append(g)
    return grads


@pytest.mark.parametrize('weighted', [False, True])
def test_one_sgd_step_matches_the_gradient_of_the_weighted_sum_of_losses(data, weighted):
    x, labels, targets, sample_weight = data
    model, *_ = two_heads()
    model.compile(optimizers.SGD(learning_rate=0.1), loss=['sparse_categorical_crossentropy', 'mse'],
                  loss_weights={'cls': 0.7, 'reg': 0.3})
    params = [w.astype(np.float64) for w in model.get_weights()]
    weights = sample_weight.astype(np.float64) if weighted else np.ones(N)
    args = (x.astype(np.float64), labels, targets.astype(np.float64), weights, (0.7, 0.3))
    loss = model.train_on_batch(x, [labels, targets], sample_weight=sample_weight if weighted else None)
    assert loss[0] == pytest.approx(reference_loss(params, *args), rel=1e-5)
    for before, grad, after in zip(params, finite_difference_gradients(params, *args), model.get_weights()):
        np.testing.assert_allclose(after, before - 0.1 * grad, rtol=1e-4, atol=1e-6)


def test_logs_and_evaluate_match_each_output_alone(data):
    x, labels, targets, sample_weight = data
    model, inputs, cls, reg = two_heads()
    model.compile('adam', loss={'cls': 'sparse_categorical_crossentropy', 'reg': 'mse'}, loss_weights=[1.0, 0.5],
                  metrics=[['accuracy'], ['mae', 'mse']])
    assert model.metrics_names == ['loss', 'cls_loss', 'reg_loss', 'cls_accuracy', 'reg_mae', 'reg_mse']
    history = model.fit(x, {'cls': labels, 'reg': targets}, batch_size=4, epochs=2, verbose=0,
                        validation_data=(x[:5], [labels[:5], targets[:5]]))
    assert list(history.history) == model.metrics_names + ['val_' + n for n in model.metrics_names]
    # The same layers as two single-output models: what each output scores alone.
    alone_cls = numbanet.Model(inputs, cls)
    alone_cls.compile(loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    alone_reg = numbanet.Model(inputs, reg)
    alone_reg.compile(loss='mse', metrics=['mae', 'mse'])
    for w in (None, sample_weight):
        got = model.evaluate(x, [labels, targets], sample_weight=w, verbose=0, return_dict=True)
        cls_loss, cls_acc = alone_cls.evaluate(x, labels, sample_weight=w, verbose=0)
        reg_loss, reg_mae, reg_mse = alone_reg.evaluate(x, targets, sample_weight=w, verbose=0)
        want = {'loss': cls_loss + 0.5 * reg_loss, 'cls_loss': cls_loss, 'reg_loss': reg_loss,
                'cls_accuracy': cls_acc, 'reg_mae': reg_mae, 'reg_mse': reg_mse}
        assert got == pytest.approx(want, rel=1e-6)
    values = model.evaluate(x, [labels, targets], verbose=0)
    assert values == pytest.approx(list(model.evaluate(x, [labels, targets], verbose=0, return_dict=True).values()))
    val = model.evaluate(x[:5], [labels[:5], targets[:5]], verbose=0, return_dict=True)
    assert {k: history.history['val_' + k][-1] for k in val} == pytest.approx(val, rel=1e-6)
    predicted = model.predict(x, batch_size=4, verbose=0)
    assert isinstance(predicted, list) and len(predicted) == 2
    np.testing.assert_allclose(predicted[0], alone_cls.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(predicted[1], alone_reg.predict(x, verbose=0), rtol=1e-6)
    called = model(x)
    np.testing.assert_allclose(called[1], predicted[1], rtol=1e-6)


def test_one_loss_for_every_output_and_a_generator(data):
    x, _, targets, _ = data
    inputs = layers.Input(shape=(F,))
    a, b = layers.Dense(2, name='a')(inputs), layers.Dense(2, name='b')(inputs)
    model = numbanet.Model(inputs, [a, b], seed=1)
    model.compile('sgd', loss='mse')
    assert model.metrics_names == ['loss', 'a_loss', 'b_loss']

    def batches():
        while True:
            yield x, (targets, -targets)
    history = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    logs = model.evaluate(x, [targets, -targets], verbose=0, return_dict=True)
    assert logs['loss'] == pytest.approx(logs['a_loss'] + logs['b_loss'])


def test_save_load_and_config_round_trip(data, tmp_path):
    x, labels, targets, _ = data
    model, *_ = two_heads()
    model.compile('adam', loss=['sparse_categorical_crossentropy', 'mse'], loss_weights=[1.0, 0.25],
                  metrics={'cls': ['accuracy', numbanet.metrics.SparseTopKCategoricalAccuracy(k=2)]})
    model.fit(x, [labels, targets], epochs=2, batch_size=4, verbose=0)
    path = str(tmp_path / 'two.safetensors')
    model.save(path)
    loaded = models.load_model(path)
    assert loaded.metrics_names == model.metrics_names
    assert [t.shape for t in loaded.outputs] == [(None, 3), (None, 2)]
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(x, [labels, targets], verbose=0) == model.evaluate(x, [labels, targets], verbose=0)
    for m in (model, loaded):  # the optimizer state came back too: training goes on alike
        m.fit(x, [labels, targets], epochs=1, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    rebuilt = models.model_from_json(model.to_json())
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert [t.shape for t in rebuilt.outputs] == [(None, 3), (None, 2)]
    lines = []
    loaded.summary(print_fn=lines.append)
    assert any('cls (Dense)' in line for line in lines) and any('reg (Dense)' in line for line in lines)


@pytest.mark.parametrize('bad, message', [
    (lambda y1, y2: [y1], r"has 2 outputs \(\['cls', 'reg'\]\)"),
    (lambda y1, y2: y1, "has 2 outputs"),
    (lambda y1, y2: [y1, np.ones((N, 3))], r"y for output 'reg' must be shaped \(N, 2\)"),
    (lambda y1, y2: [y1 + 3, y2], "y for output 'cls' holds label"),
    (lambda y1, y2: {'cls': y1}, "y has no targets for output 'reg'"),
    (lambda y1, y2: {'cls': y1, 'reg': y2, 'other': y2}, r"names \['other'\], which are not outputs"),
    (lambda y1, y2: [y1, y2[:4]], "y for output 'reg' has 4"),
    (lambda y1, y2: [y1, np.where(np.eye(N, 2) > 0, np.nan, y2)], "y for output 'reg' contains 2 NaN"),
])
def test_bad_targets_are_refused_naming_the_output_and_change_nothing(data, bad, message):
    x, labels, targets, _ = data
    model, *_ = two_heads()
    model.compile('adam', loss=['sparse_categorical_crossentropy', 'mse'])
    before = model.get_weights()
    for call in (lambda: model.fit(x, bad(labels, targets), verbose=0),
                 lambda: model.evaluate(x, bad(labels, targets), verbose=0),
                 lambda: model.train_on_batch(x, bad(labels, targets))):
        with pytest.raises(ValueError, match=message):
            call()
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_class_weight_and_bad_compile_settings_are_refused(data):
    x, labels, targets, _ = data
    model, inputs, cls, reg = two_heads()
    for kwargs, message in [
            ({'loss': ['mse']}, r"has 2 outputs \(\['cls', 'reg'\]\): pass loss as a list of 2"),
            ({'loss': {'cls': 'mse', 'oops': 'mse'}}, r"loss names \['oops'\]"),
            ({'loss': {'cls': 'sparse_categorical_crossentropy'}}, "no entry for output 'reg'"),
            ({'loss': 'mse', 'loss_weights': [1.0, -1.0]}, "loss_weights for output 'reg' must be"),
            ({'loss': 'mse', 'metrics': ['mae']}, "pass metrics as a list of 2"),
            ({'loss': 'mse', 'metrics': {'cls': 'accuracy', 'nope': 'mae'}}, r"metrics names \['nope'\]"),
            ({'loss': ['mse', 'binary_crossentropy']}, "binary_crossentropy with from_logits=False needs a model "
                                                       "whose last layer ends in sigmoid, but the last layer, 'reg'")]:
        with pytest.raises(ValueError, match=message):
            model.compile(**kwargs)
        assert not model.compiled
    single = numbanet.Model(inputs, reg)
    with pytest.raises(ValueError, match='loss_weights weighs the losses of a model with several outputs'):
        single.compile(loss='mse', loss_weights=[2.0])
    model.compile(loss=['sparse_categorical_crossentropy', 'mse'])
    with pytest.raises(ValueError, match='class_weight is only supported for models with a single output'):
        model.fit(x, [labels, targets], class_weight={0: 2.0}, verbose=0)
    with pytest.raises(NotImplementedError, match='distributed=True'):
        model.fit(x, [labels, targets], distributed=True, verbose=0)
    assert model.optimizer.iterations == 0


def test_weighted_metrics_weigh_each_sample_as_keras_does(data, tmp_path):
    x, labels, targets, sample_weight = data
    inputs = layers.Input(shape=(F,))
    single = numbanet.Model(inputs, layers.Dense(3, activation='softmax', name='cls')(inputs), seed=3)
    top2 = numbanet.metrics.SparseTopKCategoricalAccuracy
    single.compile('sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy', top2(k=2)],
                   weighted_metrics=['accuracy', top2(k=2, name='top2')])
    assert single.metrics_names == ['loss', 'accuracy', 'sparse_top_k_categorical_accuracy', 'weighted_accuracy',
                                    'top2']
    correct = (np.argmax(single.predict(x, verbose=0), 1) == labels).astype(np.float64)
    logs = single.evaluate(x, labels, sample_weight=sample_weight, batch_size=4, verbose=0, return_dict=True)
    assert logs['accuracy'] == pytest.approx(correct.mean())
    assert logs['weighted_accuracy'] == pytest.approx((sample_weight * correct).sum() / sample_weight.sum(), rel=1e-6)
    unweighted = single.evaluate(x, labels, batch_size=4, verbose=0, return_dict=True)
    assert unweighted['weighted_accuracy'] == pytest.approx(correct.mean())
    path = str(tmp_path / 'weighted.safetensors')
    single.save(path)
    assert models.load_model(path).metrics_names == single.metrics_names
    model, *_ = two_heads()
    model.compile('sgd', loss=['sparse_categorical_crossentropy', 'mse'], metrics={'cls': 'accuracy'},
                  weighted_metrics={'cls': 'accuracy', 'reg': 'mae'})
    assert model.metrics_names == ['loss', 'cls_loss', 'reg_loss', 'cls_accuracy', 'cls_weighted_accuracy',
                                   'reg_mae']
    history = model.fit(x, [labels, targets], sample_weight=sample_weight, epochs=1, verbose=0)
    assert set(history.history) == set(model.metrics_names)
    logs = model.evaluate(x, [labels, targets], sample_weight=sample_weight, verbose=0, return_dict=True)
    cls_pred, reg_pred = model.predict(x, verbose=0)
    correct = (np.argmax(cls_pred, 1) == labels).astype(np.float64)
    assert logs['cls_weighted_accuracy'] == pytest.approx((sample_weight * correct).sum() / sample_weight.sum())
    mae = np.abs(reg_pred - targets).mean(1)
    assert logs['reg_mae'] == pytest.approx((sample_weight * mae).sum() / sample_weight.sum(), rel=1e-5)


def test_callbacks_monitor_an_output_by_its_logged_name(data):
    x, labels, targets, _ = data
    model, *_ = two_heads()
    model.compile('sgd', loss=['sparse_categorical_crossentropy', 'mse'], metrics=[['accuracy'], ['mae']],
                  weighted_metrics={'reg': 'mse'})
    for monitor, lower in [('val_cls_loss', True), ('val_cls_accuracy', False), ('reg_mae', True), ('reg_mse', True)]:
        stop = numbanet.callbacks.EarlyStopping(monitor=monitor, patience=5)
        model.fit(x, [labels, targets], epochs=1, verbose=0, validation_split=0.3, callbacks=[stop])
        assert stop.lower_is_better is lower


def test_pruning_int8_and_onnx_take_two_outputs_and_distillation_refuses_them(data, tmp_path):
    x, labels, targets, _ = data
    model, *_ = two_heads()
    model.compile('sgd', loss=['sparse_categorical_crossentropy', 'mse'])
    numbanet.compression.prune(model, 0.5)
    model.fit(x, [labels, targets], epochs=1, verbose=0)
    assert numbanet.compression.sparsity(model) == pytest.approx(0.5, abs=0.05)
    want = model.predict(x, verbose=0)
    with pytest.raises(NotImplementedError, match='distillation takes models with one output, but the student has 2'):
        numbanet.compression.Distiller(numbanet.Model(model.inputs, model.outputs[0]), model)
    if importlib.util.find_spec('onnxruntime') is not None:
        import onnxruntime
        model.export(str(tmp_path / 'two.onnx'))
        session = onnxruntime.InferenceSession(str(tmp_path / 'two.onnx'))
        assert [o.name for o in session.get_outputs()] == ['cls', 'reg']
        for a, b in zip(session.run(None, {session.get_inputs()[0].name: x}), want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    model.quantize('int8')
    for a, b in zip(model.predict(x, verbose=0), want):
        np.testing.assert_allclose(a, b, atol=0.05)
