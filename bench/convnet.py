"""Keras's simple MNIST convnet, trained by numbanet and by PyTorch eager, each in its own interpreter.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/convnet.py [--rounds 3] [--threads 2]
        [--samples 10240] [--torch-python /path/to/python-with-torch]

Conv2D 32 3x3 relu, MaxPooling2D 2, Conv2D 64 3x3 relu, MaxPooling2D 2, Flatten, Dropout 0.5, Dense 10
softmax; Adam 1e-3, batch 128, cross-entropy. Each round starts one fresh process per framework, in turn
(interleaved, so the noise of a shared machine hits both alike); a process trains one warm-up epoch
(compilation, allocator pools) and then times one epoch of the same synthetic MNIST-shaped data. The
table gives the median samples/s and the range over rounds. A process that imported numbanet never
times PyTorch, and the other way round.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

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
                      'version': version}))


def run_worker(python, framework, samples, threads):
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([python, os.path.join(here, 'convnet.py'), 'worker', '--framework', framework,
                           '--samples', str(samples), '--threads', str(threads)],
                          capture_output=True, text=True, cwd=os.path.dirname(here))
    if proc.returncode:
        raise RuntimeError(f"the {framework} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def torch_python(requested):
    if requested:
        return requested
    probe = subprocess.run([sys.executable, '-c', 'import torch'], capture_output=True)
    return sys.executable if probe.returncode == 0 else None


def compare(args):
    pythons = {'numbanet': sys.executable}
    tp = torch_python(args.torch_python)
    if tp:
        pythons['pytorch'] = tp
    else:
        print("PyTorch not found (pass --torch-python): timing numbanet alone")
    rates = {name: [] for name in pythons}
    versions = {}
    for _ in range(args.rounds):
        for name, python in pythons.items():
            result = run_worker(python, name, args.samples, args.threads)
            rates[name].append(result['samples'] / result['seconds'])
            versions[name] = result['version']
    print(f"Simple MNIST convnet, Adam, batch {BATCH}, {args.samples:,} samples per epoch, {args.threads} threads, "
          f"{args.rounds} interleaved rounds, one process per framework and round")
    print(f"{'framework':<10} {'samples/s':>10} {'range':>17} {'s/60k epoch':>12} {'vs pytorch':>11}   version")
    torch_rate = statistics.median(rates['pytorch']) if 'pytorch' in rates else None
    summary = {}
    for name, rs in rates.items():
        median = statistics.median(rs)
        ratio = f"{median / torch_rate:.2f}x" if torch_rate else ''
        print(f"{name:<10} {median:>10,.0f} {min(rs):>8,.0f}-{max(rs):<8,.0f} {60000 / median:>12.1f} {ratio:>11}   "
              f"{versions[name]}")
        summary[name] = {'median': median, 'min': min(rs), 'max': max(rs), 'version': versions[name]}
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
