"""Keras's simple MNIST convnet, trained by numbanet and by PyTorch eager, each in its own interpreter.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/convnet.py [--rounds 3] [--threads 2]
        [--samples 10240] [--torch-python /path/to/python-with-torch]

Conv2D 32 3x3 relu, MaxPooling2D 2, Conv2D 64 3x3 relu, MaxPooling2D 2, Flatten, Dropout 0.5, Dense 10
softmax; Adam 1e-3, batch 128, cross-entropy. Each round starts one fresh process per framework, in turn
(interleaved, so the noise of a shared machine hits both alike); a process trains one warm-up epoch
(compilation, allocator pools) and then times one epoch of the same synthetic MNIST-shaped data. The
table gives the median samples/s and the range over rounds, and the ratio to PyTorch taken round by round.
A process that imported numbanet never times PyTorch, and the other way round: bench/peers.py refuses such a
timing.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

BATCH = 128


def data(samples):
    rng = np.random.default_rng(0)
    x = rng.random((samples, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    return x, y


def numbanet_epoch_time(samples, threads):
    import numbanet
    from numbanet import layers
    numbanet.set_num_threads(threads)
    model = numbanet.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation='relu'), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation='relu'), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation='softmax')], seed=0)
    model.compile(optimizer=numbanet.optimizers.Adam(1e-3), loss='sparse_categorical_crossentropy')
    x, y = data(samples)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    return time.perf_counter() - start, numbanet.__version__


def pytorch_epoch_time(samples, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = data(samples)
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())  # PyTorch's own layout: channels first
    y = torch.from_numpy(y)

    def epoch():
        perm = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    epoch()
    start = time.perf_counter()
    epoch()
    return time.perf_counter() - start, torch.__version__


WORKERS = {'numbanet': numbanet_epoch_time, 'pytorch': pytorch_epoch_time}


def worker(args):
    seconds, version = WORKERS[args.framework](args.samples, args.threads)
    print(json.dumps({'framework': args.framework, 'seconds': seconds, 'samples': args.samples,
                      'version': version, 'modules': peers.loaded_frameworks()}))


def compare(args):
    pythons = {'numbanet': sys.executable}
    tp = peers.python_with('torch', args.torch_python)
    if tp:
        pythons['pytorch'] = tp
    else:
        print("PyTorch not found (pass --torch-python): timing numbanet alone")
    argv = [os.path.abspath(__file__), 'worker', '--samples', str(args.samples), '--threads', str(args.threads)]
    runs = {name: lambda name=name, python=python: peers.run_child(python, argv + ['--framework', name], name)
            for name, python in pythons.items()}
    results = peers.interleaved(runs, args.rounds)
    seconds = {name: [r['seconds'] for r in rs] for name, rs in results.items()}
    print(f"Simple MNIST convnet, Adam, batch {BATCH}, {args.samples:,} samples per epoch, {args.threads} threads, "
          f"{args.rounds} interleaved rounds, one process per framework and round")
    print(f"{'framework':<10} {'samples/s':>10} {'range':>17} {'s/60k epoch':>12} {'vs pytorch (range)':>20}   version")
    summary = {}
    for name, ts in seconds.items():
        rates = peers.spread([args.samples / t for t in ts])
        ratio = peers.per_round_ratios(seconds['pytorch'], ts) if 'pytorch' in seconds else None
        shown = f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else ''
        version = results[name][-1]['version']
        print(f"{name:<10} {rates['median']:>10,.0f} {rates['min']:>8,.0f}-{rates['max']:<8,.0f} "
              f"{60000 / rates['median']:>12.1f} {shown:>20}   {version}")
        summary[name] = dict(rates, version=version, vs_pytorch=ratio)
    if args.json:
        print(json.dumps(summary))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('mode', nargs='?', default='compare', choices=['compare', 'worker'])
    p.add_argument('--framework', choices=sorted(WORKERS), help='(worker mode) which framework to time')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--samples', type=int, default=10240, help='samples per timed epoch')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--torch-python', default=None, help='a python interpreter that has torch installed')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    if args.mode == 'worker':
        worker(args)
    else:
        compare(args)


if __name__ == '__main__':
    main()
