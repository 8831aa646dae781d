"""model.summary(): Keras's table of layers, output shapes and parameter counts."""


def print_summary(model, print_fn):
    graph = model.graph
    linear = all(len(n.inputs) <= 1 for n in graph.nodes)
    rows, counted = [], set()
    for node in graph.nodes:
        layer = node.layer
        # A layer called twice (shared weights) owns its parameters once.
        params = 0 if id(layer) in counted else sum(w.size for w in layer.weights_list)
        counted.add(id(layer))
        row = [f"{layer.name} ({type(layer).__name__})", str(node.output.shape), f"{params:,}"]
        if not linear:
            row.append(', '.join(t.name.split('/')[0] for t in node.inputs))
        rows.append(row)
    heads = ['Layer (type)', 'Output Shape', 'Param #'] + ([] if linear else ['Connected to'])
    widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(heads)]

    def line(cells):
        return ' ' + ''.join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    def size(n):
        return f"{n * 4 / 1024:.2f} KB" if n * 4 >= 1024 else f"{n * 4:.2f} B"

    total = sum(widths) + 1
    trainable = sum(w.size for layer in graph.layers if layer.trainable for w in layer.weights_list if w.trainable)
    count = model.count_params()
    print_fn(f'Model: "{model.name}"')
    print_fn('_' * total)
    print_fn(line(heads))
    print_fn('=' * total)
    for r in rows:
        print_fn(line(r))
    print_fn('=' * total)
    print_fn(f"Total params: {count:,} ({size(count)})")
    print_fn(f"Trainable params: {trainable:,} ({size(trainable)})")
    print_fn(f"Non-trainable params: {count - trainable:,} ({size(count - trainable)})")
    print_fn('_' * total)
