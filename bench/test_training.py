"""A whole training step of the reference MLP at batch 128, and batch-1 inference, against numpy and
PyTorch (skipped when torch is not installed)."""
import numpy as np
import pytest

import workloads

FRAMEWORKS = [workloads.NumbanetMLP, workloads.NumpyMLP, workloads.TorchMLP]


def _make(cls):
    if cls is workloads.TorchMLP and not workloads.installed('torch'):
        pytest.skip('PyTorch is not installed')
    return cls()


@pytest.mark.parametrize('cls', FRAMEWORKS, ids=lambda c: c.name)
def test_training_step_batch_128(run, mnist, cls):
    fw = _make(cls)
    x, y = mnist[0][:workloads.BATCH], mnist[1][:workloads.BATCH]
    if cls is workloads.TorchMLP:
        import torch
        xb, yb = torch.from_numpy(x), torch.from_numpy(y)
    elif cls is workloads.NumbanetMLP:
        import numbanet
        xb, yb = x, numbanet.utils.to_categorical(y, 10)
    else:
        xb, yb = x, np.eye(10, dtype=np.float32)[y]
    run('training step, batch 128', f'{fw.name} train step', lambda: fw.step(xb, yb), rounds=100)


@pytest.mark.parametrize('cls', FRAMEWORKS, ids=lambda c: c.name)
def test_inference_batch_1(run, mnist, cls):
    fw = _make(cls)
    x = mnist[0][:1]
    if cls is workloads.TorchMLP:
        import torch
        x = torch.from_numpy(x)
    run('predict, batch 1', f'{fw.name} predict', lambda: fw.infer(x), rounds=500, iterations=10)


def test_epoch(run, mnist):
    fw = workloads.NumbanetMLP()
    fw.prepare(mnist[0], mnist[1])
    run('one epoch of MNIST, batch 128', 'numbanet epoch', fw.epoch, rounds=3)
