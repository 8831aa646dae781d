"""Where a training step of the reference MLP goes, epoch after epoch: per epoch the seconds, the optimizer's
step (Optimizer.apply) and how many optimizer state values are subnormal; then, for one more epoch, the time
in each kernel of numbanet's CPU kernel set (each call timed, so the total runs a little slower).

    python bench/step_profile.py [--epochs 6] [--limit N] [--threads 2] [--json]

One process, numbanet alone: this is a profile of numbanet, not a comparison (compare.py is that). Real MNIST
when it is installed, else random data of its shapes; float32 inputs, Adam, batch 128, as compare.py trains.
"""
import argparse
import collections
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402

TINY = np.finfo(np.float32).tiny


def timed_kernels(kernels, seconds, calls, by_call=False):
    """Wrap every public kernel of the kernel set in a timer (the functions a *_call or *_calls kernel returns
    too, since plans call those directly); returns a function that puts the originals back. by_call: time each
    function a *_call(s) kernel returns on its own, named with its output's shape."""
    originals = {n: getattr(kernels, n) for n in dir(kernels) if not n.startswith('_') and callable(getattr(kernels, n))}

    def timer(name, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - start
                calls[name] += 1
        return run

    def label(name, call, call_args):
        if not by_call:
            return name
        out = next((a for a in call_args if hasattr(a, 'shape')), None)
        return f"{name} {getattr(call, '__name__', 'call')} {'x'.join(map(str, out.shape)) if out is not None else ''}"

    def binder(name, fn):
        def bind(*args, **kwargs):
            call, call_args = fn(*args, **kwargs)
            return timer(label(name[:-len('_call')], call, call_args), call), call_args
        return bind

    def list_binder(name, fn):
        def bind(*args, **kwargs):
            return [(timer(label(name[:-len('_calls')], call, call_args), call), call_args)
                    for call, call_args in fn(*args, **kwargs)]
        return bind

    for name, fn in originals.items():
        wrap = binder if name.endswith('_call') else list_binder if name.endswith('_calls') else timer
        setattr(kernels, name, wrap(name, fn))
    return lambda: [setattr(kernels, n, f) for n, f in originals.items()]


def build(numbanet, seed, sizes=workloads.SIZES):
    inputs = numbanet.layers.Input(shape=(sizes[0],))
    x = inputs
    for width in sizes[1:-1]:
        x = numbanet.layers.Dense(width, activation='relu')(x)
    model = numbanet.Model(inputs, numbanet.layers.Dense(sizes[-1], activation='softmax')(x), seed=seed)
    model.compile(optimizer=numbanet.optimizers.Adam(1e-3), loss='sparse_categorical_crossentropy')
    model.set_weights(workloads.initial_weights(seed, sizes))
    return model


def profile(args):
    import numbanet
    from numbanet.kernels import cpu as kernels
    if args.threads:
        numbanet.set_num_threads(args.threads)
    x, y, _, _, source = workloads.mnist_or_synthetic(args.limit)
    steps = -(-len(x) // workloads.BATCH)
    model = build(numbanet, 0, args.sizes)
    optimizer, applied = model.optimizer, [0.0]
    apply = optimizer.apply

    def timed_apply(k):
        start = time.perf_counter()
        try:
            return apply(k)
        finally:
            applied[0] += time.perf_counter() - start
    optimizer.apply = timed_apply  # this instance only: the step fit calls
    epochs = []
    for epoch in range(args.epochs):
        applied[0] = 0.0
        start = time.perf_counter()
        model.fit(x, y, batch_size=workloads.BATCH, epochs=1, verbose=0)
        state = optimizer.state_arrays()
        epochs.append({'epoch': epoch + 1, 'seconds': time.perf_counter() - start,
                       'optimizer_us_per_step': applied[0] / steps * 1e6,
                       'subnormal_state': {s: int(((a != 0) & (np.abs(a) < TINY)).sum()) for s, a in state.items()}})
    seconds, calls = collections.Counter(), collections.Counter()
    restore = timed_kernels(kernels, seconds, calls, args.by_call)
    try:
        fresh = build(numbanet, 0, args.sizes)  # made after the wrapping, so its plans bind the timed kernels
        fresh.fit(x[:4 * workloads.BATCH], y[:4 * workloads.BATCH], batch_size=workloads.BATCH, epochs=1, verbose=0)
        seconds.clear(), calls.clear()
        start = time.perf_counter()
        fresh.fit(x, y, batch_size=workloads.BATCH, epochs=1, verbose=0)
        total = time.perf_counter() - start
    finally:
        restore()
    kernels_us = {n: {'us_per_step': s / steps * 1e6, 'calls_per_step': calls[n] / steps}
                  for n, s in seconds.most_common()}
    return {'source': source, 'samples': len(x), 'steps': steps, 'threads': numbanet.get_num_threads(),
            'epochs': epochs, 'timed_epoch_seconds': total, 'kernels': kernels_us}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=6, help='epochs to time, one fit call each (default 6)')
    p.add_argument('--limit', type=int, default=None, help='samples per epoch (default: all)')
    p.add_argument('--threads', type=int, default=None, help='numbanet threads (default: cores)')
    p.add_argument('--sizes', type=lambda v: tuple(int(n) for n in v.split(',')), default=workloads.SIZES,
                   help='the MLP, 784,h,...,10 (default: the reference MLP)')
    p.add_argument('--by-call', action='store_true', help="time each bound call of a layer's kernels on its own")
    p.add_argument('--json', action='store_true', help='print the results as one JSON object')
    args = p.parse_args(argv)
    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        p.error('--sizes must start at 784 and end at 10 (MNIST)')
    if args.epochs < 1 or (args.limit is not None and args.limit < workloads.BATCH):
        p.error(f"--epochs must be >= 1 and --limit >= {workloads.BATCH}")
    result = profile(args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['source']}, {result['samples']:,} samples, {result['steps']} steps an epoch, "
          f"{result['threads']} threads")
    for e in result['epochs']:
        print(f"epoch {e['epoch']}: {e['seconds']:.3f} s, optimizer step {e['optimizer_us_per_step']:.0f} us, "
              f"subnormal state values {e['subnormal_state']}")
    print(f"one more epoch with every kernel call timed: {result['timed_epoch_seconds']:.3f} s")
    for name, k in result['kernels'].items():
        print(f"  {name:40s} {k['us_per_step']:8.1f} us a step ({k['calls_per_step']:.0f} calls)")
    timed = sum(k['us_per_step'] for k in result['kernels'].values())
    print(f"  {'(outside the kernels)':40s} {result['timed_epoch_seconds'] / result['steps'] * 1e6 - timed:8.1f} us")


if __name__ == '__main__':
    main()
