"""numbanet.models: rebuilding a model from the architecture a file holds, and refusing one it cannot."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import numbanet
from numbanet.models import SavedFileError, load_model
from tests.helpers import trained_residual


@pytest.fixture
def trained(rng):
    return trained_residual(rng)


def test_load_model_refuses_bad_architecture(tmp_path, trained):
    from safetensors.numpy import save_file
    model = trained[0]
    model.save(tmp_path / 'm.safetensors')
    from safetensors import safe_open
    with safe_open(str(tmp_path / 'm.safetensors'), framework='np') as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta['model'])
    config['layers'][1]['class'] = 'LSTM'
    save_file(tensors, str(tmp_path / 'arch.safetensors'), metadata={**meta, 'model': json.dumps(config)})
    with pytest.raises(SavedFileError, match='unknown layer'):
        load_model(tmp_path / 'arch.safetensors')
    save_file(tensors, str(tmp_path / 'json.safetensors'), metadata={**meta, 'model': '{not json'})
    with pytest.raises(SavedFileError, match='not JSON'):
        load_model(tmp_path / 'json.safetensors')
    del tensors[model.parameters.weights[-1].name]
    save_file(tensors, str(tmp_path / 'short.safetensors'), metadata=meta)
    with pytest.raises(SavedFileError, match='missing tensor'):
        load_model(tmp_path / 'short.safetensors')


def _rewrite(path, target, edit):
    """A copy of a model file with its architecture JSON changed by edit(config)."""
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(path), framework='np') as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta = dict(meta)
    config = json.loads(meta['model'])
    edit(config, meta, tensors)
    meta['model'] = config if isinstance(config, str) else json.dumps(config)
    save_file(tensors, str(target), metadata=meta)
    return target


def test_crafted_architectures_are_refused_clearly(tmp_path, trained):
    model = trained[0]
    model.save(tmp_path / 'm.safetensors')
    cases = {
        'index -1': (lambda c, m, t: c.update(output=-1), 'name no tensor'),
        'bool index': (lambda c, m, t: c['nodes'][2].update(inputs=[True]), 'come later or do not exist'),
        'string inputs': (lambda c, m, t: c['nodes'][2].update(inputs='1'), 'come later or do not exist'),
        'not a layer': (lambda c, m, t: c['layers'][1].update({'class': 'Model'}), 'unknown layer'),
        'iterations': (lambda c, m, t: m.update(optimizer_iterations='-1'), 'whole number'),
        'huge iterations': (lambda c, m, t: m.update(optimizer_iterations='1' + '0' * 20), 'whole number'),
        'rng state': (lambda c, m, t: m.update(rng_state='{"bit_generator": "PCG64", "state": 5}'), 'rng_state'),
        'negative uinteger': (lambda c, m, t: m.update(rng_state=json.dumps(  # numpy raises OverflowError
            {**json.loads(m['rng_state']), 'uinteger': -5})), 'rng_state'),
        'optimizer config null': (lambda c, m, t: m.update(compile=json.dumps(
            {**json.loads(m['compile']), 'optimizer': {'class': 'Adam', 'config': None}})), 'optimizer'),
        'optimizer a list': (lambda c, m, t: m.update(compile=json.dumps(
            {**json.loads(m['compile']), 'optimizer': ['Adam']})), 'compile settings|optimizer'),
        'nan weight': (lambda c, m, t: t[next(k for k in t if k.endswith('/kernel'))].__setitem__((0, 0), np.nan),
                       'NaN'),
    }
    for name, (edit, message) in cases.items():
        path = _rewrite(tmp_path / 'm.safetensors', tmp_path / f'{name}.safetensors', edit)
        with pytest.raises(SavedFileError, match=message):
            load_model(path)
    deep = _rewrite(tmp_path / 'm.safetensors', tmp_path / 'deep.safetensors',
                    lambda c, m, t: None)
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(deep), framework='np') as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    meta['model'] = '[' * 100000 + ']' * 100000
    save_file(tensors, str(deep), metadata=meta)
    with pytest.raises(SavedFileError, match='nested too deeply|not JSON'):
        load_model(deep)


def test_files_from_before_int8dense_load(tmp_path, rng):
    # numbanet 0.1 wrote an int8 layer as class Dense with quantized='int8' and Dense's initializers.
    from tests.helpers import mlp
    model = mlp(hidden=(8,))
    model.quantize('int8')
    model.save(tmp_path / 'new.safetensors')

    def legacy(config, meta, tensors):
        for entry in config['layers']:
            if entry['class'] == 'Int8Dense':
                entry['class'] = 'Dense'
                entry['config'].update(quantized='int8', kernel_initializer='glorot_uniform',
                                       bias_initializer='zeros')
                del entry['config']['trainable']
    old = _rewrite(tmp_path / 'new.safetensors', tmp_path / 'old.safetensors', legacy)
    loaded = load_model(old)
    x = rng.standard_normal((9, 12)).astype(np.float32)
    assert loaded.quantized
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


class _Broken(numbanet.layers.Dense):
    @classmethod
    def from_config(cls, config):
        raise RuntimeError('cannot be rebuilt')


def test_custom_objects_are_checked_and_their_errors_named(tmp_path, rng):
    from tests.helpers import mlp
    model = mlp(hidden=(4,))
    model.save(tmp_path / 'm.safetensors')
    with pytest.raises(TypeError, match='must be a dict'):
        load_model(tmp_path / 'm.safetensors', custom_objects=[_Broken])
    renamed = _rewrite(tmp_path / 'm.safetensors', tmp_path / 'b.safetensors',
                       lambda c, m, t: c['layers'][1].update({'class': '_Broken'}))
    with pytest.raises(SavedFileError, match='RuntimeError: cannot be rebuilt'):
        load_model(renamed, custom_objects={'_Broken': _Broken})


def test_a_custom_loss_loads_with_the_model(tmp_path, rng):
    from tests.test_losses import HalfSquaredError
    inputs = numbanet.layers.Input(shape=(3,))
    model = numbanet.Model(inputs, numbanet.layers.Dense(2)(inputs))
    model.compile(optimizer='sgd', loss=HalfSquaredError())
    model.save(tmp_path / 'm.safetensors')
    with pytest.raises(SavedFileError, match='unknown loss'):
        load_model(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors', custom_objects={'HalfSquaredError': HalfSquaredError})
    assert isinstance(loaded.loss, HalfSquaredError)


# ---- introspection: layer.output, model.inputs, configs, pop, get_layer ------------------------------------
def _functional(seed=0):
    inputs = numbanet.Input(shape=(6,), name='features')
    x = numbanet.layers.Dense(5, activation='relu', name='hidden')(inputs)
    outputs = numbanet.layers.Dense(3, activation='softmax', name='probs')(x)
    return numbanet.Model(inputs=inputs, outputs=outputs, seed=seed), inputs, x


def test_layer_output_builds_a_feature_extractor_sharing_the_weights(rng):
    model, inputs, hidden = _functional()
    hidden_layer = model.get_layer('hidden')
    assert hidden_layer.output is hidden and hidden_layer.input is inputs and model.inputs == [inputs]
    assert model.outputs == [model.get_layer('probs').output]
    x, labels = rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, labels, epochs=2, batch_size=8, verbose=0)
    extractor = numbanet.Model(inputs=model.inputs, outputs=hidden_layer.output)
    kernel, bias = hidden_layer.get_weights()
    assert np.allclose(extractor.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0), atol=1e-5)
    assert np.array_equal(model.get_weights()[0], kernel)  # the trained model kept its weights


def test_layer_output_is_refused_when_ambiguous_or_missing():
    unused = numbanet.layers.Dense(2, name='never_called')
    with pytest.raises(AttributeError, match='never been called'):
        unused.output
    assert not hasattr(unused, 'input')
    shared = numbanet.layers.Dense(4, name='shared_twice')
    a, b = numbanet.Input(shape=(4,)), numbanet.Input(shape=(4,))
    shared(a), shared(b)
    with pytest.raises(AttributeError, match='called 2 times'):
        shared.output


def test_sequential_layer_output_names_the_model_as_it_is(rng):
    model = numbanet.Sequential([numbanet.Input(shape=(6,)), numbanet.layers.Dense(4, activation='relu'),
                                 numbanet.layers.Dense(2)])
    model.add(numbanet.layers.Dense(3))  # a rebuild: each layer is called again
    first = model.layers[0]
    extractor = numbanet.Model(inputs=model.inputs, outputs=first.output)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    kernel, bias = first.get_weights()
    assert np.allclose(extractor.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0), atol=1e-5)


def test_config_and_json_round_trip_the_architecture(capsys):
    for model in (_functional()[0], numbanet.Sequential([numbanet.Input(shape=(6,)), numbanet.layers.Dense(4),
                                                         numbanet.layers.Dropout(0.5),
                                                         numbanet.layers.Dense(2, activation='softmax')])):
        config = model.get_config()
        rebuilt = type(model).from_config(config)
        from_json = numbanet.models.model_from_json(model.to_json())
        assert type(from_json) is type(model)
        summaries = []
        for m in (model, rebuilt, from_json):
            m.summary()
            summaries.append(capsys.readouterr().out)
            assert m.get_config() == config
        assert summaries[0] == summaries[1] == summaries[2] and 'Total params' in summaries[0]
    with pytest.raises(numbanet.models.ConfigError, match='model.to_json'):
        numbanet.models.model_from_json('{not json')


def test_metrics_names_pair_with_evaluate(rng):
    model, _, _ = _functional()
    assert model.metrics_names == []
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    x, labels = rng.standard_normal((20, 6)).astype(np.float32), rng.integers(0, 3, 20)
    history = model.fit(x, labels, epochs=1, verbose=0)
    assert model.metrics_names == ['loss', 'accuracy'] == list(history.history)
    assert len(model.evaluate(x, labels, verbose=0)) == 2


def test_pop_removes_the_last_layer_and_rebuilds():
    model = numbanet.Sequential([numbanet.Input(shape=(6,)), numbanet.layers.Dense(4, name='pop_a'),
                                 numbanet.layers.Dense(2, name='pop_b')])
    assert model.pop().name == 'pop_b'
    assert [l.name for l in model.layers] == ['pop_a'] and model.graph.output.shape == (None, 4)
    assert model.count_params() == 6 * 4 + 4 and model.outputs == [model.layers[0].output]
    model.add(numbanet.layers.Dense(3))
    assert model.predict(np.ones((2, 6), np.float32), verbose=0).shape == (2, 3)
    model.pop(), model.pop()
    assert model.layers == [] and not model.built
    with pytest.raises(ValueError, match='no layers to pop'):
        model.pop()


def test_get_layer_by_index_and_its_refusals():
    model, _, _ = _functional()
    assert model.get_layer(index=1).name == 'hidden' and model.get_layer(index=-1).name == 'probs'
    for kwargs, message in (({'index': 3}, 'has 3 layers'), ({}, 'not both nor neither'),
                            ({'name': 'hidden', 'index': 1}, 'not both nor neither'), ({'name': 'nope'}, 'no layer')):
        with pytest.raises(ValueError, match=message):
            model.get_layer(**kwargs)


def test_probabilities_compiled_as_logits_warn():
    model, _, _ = _functional()
    with pytest.warns(UserWarning, match="expects logits.*'probs'"):
        model.compile(loss=numbanet.losses.SparseCategoricalCrossentropy(from_logits=True))


@pytest.mark.parametrize('name', ['m.keras', 'm.h5', 'm.weights.h5', 'M.HDF5'])
def test_keras_suffixes_are_refused(tmp_path, name):
    model, _, _ = _functional()
    for save in (model.save, model.save_weights):
        with pytest.raises(ValueError, match='writes safetensors.*.safetensors'):
            save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_new_layers_in_a_fresh_process_do_not_take_a_loaded_models_names(tmp_path):
    # issue #16: automatic names count from the names a loaded model brought along, whatever process made it.
    path = str(tmp_path / 'm.safetensors')
    dense = numbanet.layers.Dense  # named as a fresh process would name them
    numbanet.Sequential([numbanet.layers.Input((4,)), dense(3, name='dense'), dense(2, name='dense_1')],
                        seed=0).save(path)
    probe = ("import sys, numbanet\n"
             "m = numbanet.models.load_model(sys.argv[1])\n"
             "m.add(numbanet.layers.Dense(4))\n"
             "print(','.join(layer.name for layer in m.layers))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', probe, path], capture_output=True, text=True, check=True,
                         env={**os.environ, 'PYTHONPATH': root}).stdout.strip()
    names = out.split(',')
    assert names[:2] == ['dense', 'dense_1'] and len(set(names)) == 3, names
