"""Where the first run's compile time goes: every numba kernel a model compiles, per type signature.

    python bench/compile_report.py [--model mlp|convnet] [--top 25] [--json]

Runs in a fresh numba cache (a temporary NUMBA_CACHE_DIR, set for a child interpreter only), builds the
model, trains one step and predicts once, then reads numba's own timers for every compiled signature of
every dispatcher in numbanet.kernels.cpu: the seconds under the compiler lock (typing, numba's passes,
LLVM) and, of those, the seconds in LLVM. A kernel's seconds include those of the numba functions it calls,
which compile inside it (so the column does not add up; the first step's wall time is the total). Also
listed: how many signatures each kernel compiled (two for one kernel means two specialisations, e.g. C- and
A-layout arrays, or int64 against int32 sizes), and whether it is parallel.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def child(model_name):
    import importlib
    import pkgutil

    import numpy as np
    from numba.core.registry import CPUDispatcher

    start = time.perf_counter()
    import numbanet
    from numbanet import layers
    imported = time.perf_counter()
    if model_name == 'mlp':
        model = numbanet.Sequential([layers.Input((784,)), layers.Dense(256, activation='relu'),
                                     layers.Dense(128, activation='relu'), layers.Dense(64, activation='relu'),
                                     layers.Dense(10, activation='softmax')], seed=0)
        x = np.random.default_rng(0).random((256, 784), dtype=np.float32)
    else:
        model = numbanet.Sequential([
            layers.Input((28, 28, 1)), layers.Conv2D(32, 3, activation='relu'), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation='relu'), layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
            layers.Dense(10, activation='softmax')], seed=0)
        x = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, len(x))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    model.predict(x[:1], verbose=0)
    done = time.perf_counter()

    cpu = importlib.import_module('numbanet.kernels.cpu')
    rows, seen = [], set()
    for info in pkgutil.iter_modules(cpu.__path__):
        module = importlib.import_module(f'numbanet.kernels.cpu.{info.name}')
        for name, obj in vars(module).items():
            if not isinstance(obj, CPUDispatcher) or id(obj) in seen or obj.py_func.__module__ != module.__name__:
                continue
            seen.add(id(obj))
            for sig in obj.signatures:
                timers = obj.get_metadata(sig).get('timers', {})
                rows.append({'kernel': f'{info.name}.{name}', 'signature': str(sig),
                             'parallel': bool(obj.targetoptions.get('parallel')),
                             'signatures': len(obj.signatures), 'seconds': timers.get('compiler_lock', 0.0),
                             'llvm': timers.get('llvm_lock', 0.0)})
    return {'model': model_name, 'import_seconds': imported - start, 'first_step_seconds': done - imported,
            'rows': rows}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', choices=['mlp', 'convnet'], default='mlp')
    p.add_argument('--top', type=int, default=25, help='rows to print (default 25)')
    p.add_argument('--json', action='store_true', help='print the whole report as one JSON line')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.model)))
        return
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, '--child', '--model', args.model], env=env,
                             capture_output=True, text=True)
        wall = time.perf_counter() - started
    if out.returncode:
        sys.exit(out.stderr)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report['wall_seconds'] = wall
    if args.json:
        print(json.dumps(report))
        return
    rows = sorted(report['rows'], key=lambda r: -r['seconds'])
    print(f"{args.model}: {wall:.1f} s wall from an empty cache (import {report['import_seconds']:.1f} s, "
          f"first step and predict {report['first_step_seconds']:.1f} s); {len(rows)} signatures of "
          f"{len({r['kernel'] for r in rows})} kernels")
    print(f"{'seconds':>8} {'llvm':>6}  {'sigs':>4}  {'par':>3}  kernel (signature)")
    for r in rows[:args.top]:
        sig = r['signature'].replace('array(float32, ', 'f4[').replace('readonly ', 'ro ')
        print(f"{r['seconds']:8.2f} {r['llvm']:6.2f}  {r['signatures']:4d}  {'yes' if r['parallel'] else '':>3}  "
              f"{r['kernel']} {sig[:90]}")
    print("(a kernel's seconds include those of the numba functions it calls and compiles with it)")


if __name__ == '__main__':
    main()
