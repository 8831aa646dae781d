"""A model's architecture and compile settings as plain JSON-able data, and back.

What model.save writes beside the weights, so load_model can rebuild the same graph: the layers (class
and get_config()), the nodes that call them (which tensors feed each), the model's inputs and output, and
the optimizer, loss and metrics given to compile().
"""
from numbanet import layers as layers_module
from numbanet import losses, metrics, optimizers

LAYERS = {cls.__name__: cls for cls in (layers_module.InputLayer, layers_module.Dense, layers_module.ReLU,
                                        layers_module.Softmax, layers_module.Activation, layers_module.Add,
                                        layers_module.Concatenate)}
OPTIMIZERS = {'Adam': optimizers.Adam, 'SGD': optimizers.SGD}
LOSSES = {'CategoricalCrossentropy': losses.CategoricalCrossentropy,
          'SparseCategoricalCrossentropy': losses.SparseCategoricalCrossentropy,
          'MeanSquaredError': losses.MeanSquaredError}
METRICS = {cls.__name__: cls for cls in (metrics.CategoricalAccuracy, metrics.SparseCategoricalAccuracy,
                                         metrics.BinaryAccuracy, metrics.MeanSquaredError,
                                         metrics.MeanAbsoluteError)}


class ArchitectureError(ValueError):
    """A saved architecture that numbanet cannot rebuild."""


def _object(kind, registry, entry):
    if not isinstance(entry, dict) or entry.get('class') not in registry or not isinstance(entry.get('config'), dict):
        raise ArchitectureError(f"unknown {kind} in the saved model: {entry!r}")
    try:
        cls = registry[entry['class']]
        make = getattr(cls, 'from_config', None) or (lambda config: cls(**config))
        return make(entry['config'])
    except (TypeError, ValueError) as e:
        raise ArchitectureError(f"cannot rebuild {kind} {entry['class']}: {e}") from None


def model_config(model):
    graph = model._graph
    index = {id(layer): i for i, layer in enumerate(graph.layers)}
    return {
        'class': type(model).__name__,
        'name': model.name,
        'seed': model.seed,
        'layers': [{'class': type(layer).__name__, 'config': layer.get_config()} for layer in graph.layers],
        'nodes': [{'layer': index[id(node.layer)], 'inputs': ids} for node, ids in zip(graph.nodes, graph.in_ids)],
        'inputs': list(graph.input_ids),
        'output': graph.output_id,
    }


def compile_config(model):
    if not model.compiled:
        return None
    def metric(m):
        if isinstance(m, str):
            return m
        config = {'name': m.name}
        if isinstance(m, metrics.BinaryAccuracy):
            config['threshold'] = m.threshold
        return {'class': type(m).__name__, 'config': config}
    return {
        'optimizer': {'class': type(model.optimizer).__name__, 'config': model.optimizer.get_config()},
        'loss': {'class': type(model.loss).__name__, 'config': model.loss.get_config()},
        'metrics': [metric(m) for m in model._metric_ids],
    }


def build_model(config, device='cpu'):
    """A new, unbuilt-weights model from model_config() output (the weights are set by the caller)."""
    from numbanet.model import Model, Sequential
    try:
        layer_objs = [_object('layer', LAYERS, entry) for entry in config['layers']]
        nodes, inputs, output = config['nodes'], config['inputs'], config['output']
        name, seed = config.get('name'), config.get('seed')
        if config.get('class') == 'Sequential':
            return Sequential([layer_objs[node['layer']] for node in nodes], name=name, seed=seed, device=device)
        tensors = []
        for i, node in enumerate(nodes):
            layer = layer_objs[node['layer']]
            if isinstance(layer, layers_module.InputLayer):
                if node['inputs']:
                    raise ArchitectureError(f"input layer '{layer.name}' cannot have inputs")
                tensors.append(layer.output)
                continue
            if any(not isinstance(j, int) or not 0 <= j < i for j in node['inputs']):
                raise ArchitectureError(f"node {i} ({layer.name}) reads tensors {node['inputs']} that come later or "
                                        f"do not exist")
            ins = [tensors[j] for j in node['inputs']]
            tensors.append(layer(ins[0] if layer.single_input else ins))
        return Model([tensors[i] for i in inputs], tensors[output], name=name, seed=seed, device=device)
    except ArchitectureError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ArchitectureError(f"the saved architecture does not describe a model numbanet can build: "
                                f"{type(e).__name__}: {e}") from None


def compile_from_config(model, config):
    if config is None:
        return
    try:
        optimizer = _object('optimizer', OPTIMIZERS, config['optimizer'])
        loss = _object('loss', LOSSES, config['loss'])
        metric_ids = [m if isinstance(m, str) else _object('metric', METRICS, m) for m in config['metrics']]
        model.compile(optimizer=optimizer, loss=loss, metrics=metric_ids)
    except ArchitectureError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ArchitectureError(f"the saved compile settings cannot be restored: {type(e).__name__}: {e}") from None
