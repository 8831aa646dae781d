"""Batch-1 inference latency: numbanet's model(x), predict_on_batch(x) and predict(x, verbose=0) against
onnxruntime's session.run on the same model, exported with numbanet.onnx_export.

    python bench/inference.py [--rounds 60] [--calls 300] [--batch 1] [--json]

The model is the reference MLP 784-256-128-64-10 (bench/workloads.py), one thread for both. Unlike the
whole-model comparisons, both run in one process, as issue #17 states its targets (model(x) and
predict_on_batch at most 0.6x session.run, predict no slower than it): a call this short is mostly
per-call overhead, and the two then share one machine state. Each round times every contender for --calls
calls, one after another, so that a noisy neighbour slows a round's contenders alike: ratios are taken
within a round and their median over rounds reported, with the spread (min-max) beside it, and the ratio of
the fastest rounds, which a busy machine disturbs least.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


def per_call_us(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def contenders(batch):
    """{name: a function of no arguments} for each contender, their outputs checked against each other."""
    import onnxruntime as ort
    from numbanet import onnx_export
    mlp = workloads.NumbanetMLP(threads=1)
    model = mlp.model
    x = np.random.default_rng(0).random((batch, workloads.SIZES[0]), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'mlp.onnx')
        onnx_export.export(model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    fns = {'onnxruntime session.run': lambda: session.run(None, {name: x}),
           'model(x)': lambda: model(x),
           'predict_on_batch(x)': lambda: model.predict_on_batch(x),
           'predict(x, verbose=0)': lambda: model.predict(x, verbose=0)}
    reference = fns['onnxruntime session.run']()[0]
    for label, fn in fns.items():
        np.testing.assert_allclose(np.asarray(fn()).reshape(reference.shape), reference, rtol=1e-4, atol=1e-6,
                                   err_msg=label)
    return fns, f"{mlp.version()}, onnxruntime {ort.__version__}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=60)
    p.add_argument('--calls', type=int, default=300, help='calls per contender per round')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--json', action='store_true', help='print the results as one JSON object')
    args = p.parse_args(argv)
    fns, versions = contenders(args.batch)
    for fn in fns.values():  # warm-up: compilation, plans and caches stay out of the timings
        per_call_us(fn, 200)
    times = {label: [] for label in fns}
    for _ in range(args.rounds):
        for label, fn in fns.items():
            times[label].append(per_call_us(fn, args.calls))
    base = times['onnxruntime session.run']
    out = {'batch': args.batch, 'rounds': args.rounds, 'calls': args.calls, 'versions': versions, 'results': {}}
    for label, ts in times.items():
        ratios = [t / b for t, b in zip(ts, base)]
        out['results'][label] = {'median_us': statistics.median(ts), 'min_us': min(ts), 'max_us': max(ts),
                                 'ratio_median': statistics.median(ratios), 'ratio_min': min(ratios),
                                 'ratio_max': max(ratios), 'ratio_fastest': min(ts) / min(base)}
    if args.json:
        print(json.dumps(out))
        return out
    print(f"batch {args.batch}, 1 thread, {args.rounds} rounds of {args.calls} calls ({versions})")
    print(f"{'':24s} {'median us':>10s} {'min-max us':>14s} {'x onnxruntime':>14s} {'min-max':>12s} {'fastest':>8s}")
    for label, r in out['results'].items():
        print(f"{label:24s} {r['median_us']:10.1f} {r['min_us']:6.1f}-{r['max_us']:<7.1f} "
              f"{r['ratio_median']:14.2f} {r['ratio_min']:5.2f}-{r['ratio_max']:<6.2f} {r['ratio_fastest']:8.2f}")
    return out


if __name__ == '__main__':
    main()
