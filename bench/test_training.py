"""A whole training step of the reference MLP at batch 128, batch-1 inference, against numpy and PyTorch
(skipped when torch is not installed), and one epoch of numbanet: `mlp_train_step[128x784]`,
`mlp_train_step[128x784] pytorch`, `mlp_predict[1x784]`, `mlp_epoch[60000x784]`."""
import numpy as np
import pytest

import workloads

FRAMEWORKS = {'numbanet': workloads.NumbanetMLP, 'numpy': workloads.NumpyMLP, 'pytorch': workloads.TorchMLP}
WHO = [pytest.param('numbanet', marks=pytest.mark.numbanet), 'numpy', 'pytorch']


def _make(who):
    if who == 'pytorch' and not workloads.installed('torch'):
        pytest.skip('PyTorch is not installed')
    return FRAMEWORKS[who]()


@pytest.mark.parametrize('who', WHO)
def test_training_step_batch_128(run, mnist, who):
    fw = _make(who)
    x, y = mnist[0][:workloads.BATCH], mnist[1][:workloads.BATCH]
    if who == 'pytorch':
        import torch
        xb, yb = torch.from_numpy(x), torch.from_numpy(y)
    elif who == 'numbanet':
        import numbanet
        xb, yb = x, numbanet.utils.to_categorical(y, 10)
    else:
        xb, yb = x, np.eye(10, dtype=np.float32)[y]
    run(f'mlp_train_step[{workloads.BATCH}x784]', who, lambda: fw.step(xb, yb))


@pytest.mark.parametrize('who', WHO)
def test_inference_batch_1(run, mnist, who):
    fw = _make(who)
    x = mnist[0][:1]
    if who == 'pytorch':
        import torch
        x = torch.from_numpy(x)
    run('mlp_predict[1x784]', who, lambda: fw.infer(x))


@pytest.mark.numbanet
def test_epoch(run, mnist):
    fw = workloads.NumbanetMLP()
    fw.prepare(mnist[0], mnist[1])
    run(f'mlp_epoch[{len(mnist[0])}x784]', 'numbanet', fw.epoch)
