"""The executor: every buffer one batch size needs, and the kernel calls of a forward and a backward pass.

A Plan lowers the graph into steps. A node becomes its layer's step (layer.forward into a buffer) followed,
when the layer has an activation, by an activation step; a layer that is nothing but its activation
(Activation, ReLU, Softmax) becomes the activation step alone. Forward runs the steps in topological
order, backward in reverse: a layer's backward adds (+=) into its weights' gradients (the first to reach a
Dense layer's writes them, and zero_gradients() leaves those out) and overwrites its inputs' gradients; a
tensor read by several steps gets one gradient buffer per extra reader, summed before its producer runs
backward.

An output's activation, when there is one, is its *head*. forward() stops beneath it, at `logits`; the
output's loss decides what happens next: fold the head into itself (softmax with cross-entropy, trained on
the logits), or run head_forward() / head_backward() around a loss on the outputs. Layers never hear of it.
Each output is an Output (below); a single-output plan is its output's view itself.

A layer may run with the one layer reading its output as one step (Layer.fuse); the tensor between goes unmade.

Everything is allocated when the plan is made (gradients when it first trains), so a step allocates nothing.
"""
from numbanet import activations
from numbanet.backend import DTYPE, rows


FUSE = True  # tests turn it off to compare fused steps (Layer.fuse) with their layers run apart


def _fusions(graph):
    # {node: (stand-in, its reader)} for the nodes, no model outputs, that one layer alone reads and that fuse with it.
    readers = [[] for _ in graph.nodes]
    for i, ids in enumerate(graph.in_ids):
        for j in ids:
            readers[j].append(i)
    found, absorbed = {}, set()
    for i, node in enumerate(graph.nodes):
        if node.inputs and len(readers[i]) == 1 and i not in graph.output_ids and i not in absorbed:
            stand_in = node.layer.fuse(graph.nodes[readers[i][0]].layer)
            if stand_in is not None:
                found[i] = (stand_in, readers[i][0])
                absorbed.add(readers[i][0])
    return found, absorbed


class Context:
    """What a layer's forward and backward get besides arrays: the device's kernel set `k`, the device
    name, this call's scratch buffers `ws` (from layer.workspace), whether the model is training, for
    randomness a `seed` that changes with every training step and the node's `index` in the graph, and
    `fresh_grads`: whether this call's backward is the first of the step to reach the layer's weight gradients,
    unzeroed (only for a layer that overwrites_gradients)."""

    __slots__ = ('k', 'device', 'ws', 'training', 'seed', 'index', 'fresh_grads', '_backend', '_constants')

    def __init__(self, backend, ws, index):
        self.k = backend.k
        self.device = backend.name
        self.ws = ws
        self.training = False
        self.seed = 0
        self.index = index
        self.fresh_grads = False
        self._backend = backend
        self._constants = {}

    def constant(self, name, shape, value):
        """An array filled with value on this device, made on first use and kept (fixed scales, say)."""
        array = self._constants.get(name)
        if array is None:
            array = self._constants[name] = self._backend.empty(shape)
            self._backend.fill(array, value)
        return array


class _LayerStep:
    def __init__(self, layer, ins, out, ctx):
        self.layer, self.ins, self.out, self.ctx = layer, ins, out, ctx

    def owns_trainable(self):
        return self.layer.trainable and any(w.trainable for w in self.layer.weights_list)

    def forward_call(self, values):
        ins = [values[j] for j in self.ins]
        args = (ins[0] if self.layer.single_input else ins, values[self.out], self.ctx)
        call = getattr(self.layer, 'forward_call', None)  # (a fused stand-in has forward, not forward_call)
        return call(*args) if call is not None else (self.layer.forward, args)

    def backward_calls(self, values, grads, dins):
        ins = [values[j] for j in self.ins]
        single = self.layer.single_input
        args = (ins[0] if single else ins, values[self.out], grads[self.out], dins[0] if single else dins, self.ctx)
        calls = getattr(self.layer, 'backward_calls', None)  # (a fused stand-in has backward only)
        calls = list(calls(*args)) if calls is not None else [(self.layer.backward, args)]
        if not all(isinstance(c, tuple) and len(c) == 2 and callable(c[0]) for c in calls):
            raise TypeError(f"layer '{self.layer.name}': backward_calls() must return a list of (fn, args) pairs")
        return calls


class _ActivationStep:
    # Activations see (rows, last axis) views, made once here, whatever the rank of the tensor.
    def __init__(self, activation, inp, out, k):
        self.activation, self.ins, self.out, self.k = activation, [inp], out, k

    def owns_trainable(self):
        return False

    def forward_call(self, values):
        return self.activation.forward, (self.k, rows(values[self.out]), rows(values[self.ins[0]]))

    def backward_calls(self, values, grads, dins):
        return [(self.activation.backward, (self.k, rows(dins[0]), rows(grads[self.out]), rows(values[self.ins[0]]),
                                            rows(values[self.out])))]


class Plan:
    """Buffers and kernel calls for one graph, one device, one batch size."""

    def __init__(self, graph, backend, batch):
        self.graph, self.backend, self.k, self.batch = graph, backend, backend.k, batch
        fused, absorbed = _fusions(graph) if FUSE else ({}, set())  # a fused node's own tensor goes unmade
        self.values = [None if i in fused else backend.empty((batch,) + t.shape[1:])
                       for i, t in enumerate(graph.tensors)]
        self.inputs = [self.values[i] for i in graph.input_ids]
        self.steps = []
        for i, node in enumerate(graph.nodes):
            if i in fused:
                self._lower(fused[i][0], graph.in_ids[i], fused[i][1])
            elif node.inputs and i not in absorbed:
                self._lower(node.layer, graph.in_ids[i], i)
        made_by = {step.out: step for step in self.steps}
        self.passes = 0  # forward passes so far: an Output's head runs once per pass
        # An output that other layers read (a feature extractor's) is made in the body, its head not split off:
        # such a model predicts, and compile refuses to train it (outputs.MultiLoss.resolve).
        read = {j for step in self.steps for j in step.ins}
        self.outputs = [Output(self, i, None if out in read else made_by.get(out))
                        for i, out in enumerate(graph.output_ids)]
        heads = {id(o.step) for o in self.outputs if o.head is not None}
        self._body = [step for step in self.steps if id(step) not in heads]
        self._forward_calls = [step.forward_call(self.values) for step in self._body]
        self._contexts = [step.ctx for step in self.steps if isinstance(step, _LayerStep)]
        self._after_calls = [(step.layer.after_step, step.ctx) for step in self.steps
                             if isinstance(step, _LayerStep) and step.layer.after_step is not None]
        self._training = None
        self._backward_calls = None
        if len(self.outputs) == 1:  # the plan is its output's view, as losses and layers have always seen it
            one = self.outputs[0]
            self.head, self.logits_id, self.output, self.logits = one.head, one.logits_id, one.output, one.logits
            self.head_forward, self.head_backward, self.output_written = \
                one.head_forward, one.head_backward, one.output_written
        else:
            self.output = tuple(o.output for o in self.outputs)
        self.extra = {}

    def _lower(self, layer, ins, out):
        act = activations.get(layer.activation)  # a layer of the user's may hold the activation's name
        if not layer.computes:
            self.steps.append(_ActivationStep(act, ins[0], out, self.k))
            return
        separate = not act.identity and act.name not in layer.fused_activations
        pre = out
        if separate:
            self.values.append(self.backend.empty(self.values[out].shape))
            pre = len(self.values) - 1
        ctx = Context(self.backend, self._alloc(layer.workspace(self.batch, training=False)), out)
        self.steps.append(_LayerStep(layer, ins, pre, ctx))
        if separate:
            self.steps.append(_ActivationStep(act, pre, out, self.k))

    def _alloc(self, shapes):
        return {name: self._empty(spec) for name, spec in shapes.items()}

    def _empty(self, spec):
        # A workspace entry is a float32 shape, or a (shape, dtype) pair.
        if spec and isinstance(spec[0], tuple):
            return self.backend.empty(spec[0], spec[1])
        return self.backend.empty(spec)

    def scratch(self, name, shape, dtype=DTYPE):
        """A named buffer kept with the plan (loss targets, say), made on first use, and made again when asked
        for another shape or dtype: a model recompiled from a sparse loss to a categorical one wants float rows
        where it kept integer labels."""
        buf = self.extra.get(name)
        if buf is None or tuple(buf.shape) != tuple(shape) or buf.dtype != dtype:
            buf = self.extra[name] = self.backend.empty(shape, dtype)
        return buf

    # ---- running -------------------------------------------------------------------------------------------
    def forward(self, training=False, seed=0):
        """Every step but the head: afterwards `logits` holds the values beneath the output activation.
        seed: what layers that draw random numbers in training (Dropout) draw them from this time."""
        if training != self._training:
            if training:
                self._add_training_workspace()
            for step in self.steps:
                if isinstance(step, _LayerStep):
                    step.ctx.training = training
            self._training = training
        if training:
            for ctx in self._contexts:
                ctx.seed = seed
        for fn, args in self._forward_calls:
            fn(*args)
        self.passes += 1

    def after_step(self):
        """Let layers that keep state from training update it (BatchNormalization's moving statistics):
        after a training forward pass whose loss turned out finite."""
        for fn, ctx in self._after_calls:
            fn(ctx)

    def head_forward(self):
        """Every output's head_forward() (a single-output plan binds its output's own instead)."""
        for o in self.outputs:
            o.head_forward()

    def predict(self):
        self.forward(training=False)
        self.head_forward()
        return self.output

    def prepare_training(self):
        """Gradient buffers and backward calls, made the first time this batch size trains."""
        if self._backward_calls is not None:
            return
        self._add_training_workspace()
        be = self.backend
        needs = [False] * len(self.values)
        for step in self.steps:
            needs[step.out] = step.owns_trainable() or any(needs[j] for j in step.ins)
        claimed = [False] * len(self.values)
        for o in self.outputs:  # its loss writes the gradient of the output or of its logits, first
            needs[o.output_id] = needs[o.logits_id] = claimed[o.output_id] = True
        grads = [be.empty(v.shape) if n else None for v, n in zip(self.values, needs)]
        extras = [[] for _ in grads]
        calls, heads = [], {id(o.step): o for o in self.outputs if o.head is not None}
        fresh = set()  # layers whose gradients their first backward call writes (a shared layer adds later)
        for step in reversed(self.steps):
            if not needs[step.out]:
                continue
            layer = getattr(step, 'layer', None)  # (an activation step has none)
            if getattr(layer, 'overwrites_gradients', False) and layer.trainable and id(layer) not in fresh:
                fresh.add(id(layer))
                step.ctx.fresh_grads = True
            dins = []
            for j in step.ins:
                if grads[j] is None:
                    dins.append(None)
                elif not claimed[j]:
                    claimed[j] = True
                    dins.append(grads[j])
                else:
                    extras[j].append(be.empty(grads[j].shape))
                    dins.append(extras[j][-1])
            step_calls = step.backward_calls(self.values, grads, dins)
            if id(step) in heads:
                heads[id(step)].backward_calls = step_calls  # the loss decides whether they run
                continue
            calls += [(self.k.add_forward, (rows(grads[step.out]), rows(grads[step.out]), rows(buf)))
                      for buf in extras[step.out]]
            calls += step_calls
        self.grads = grads
        for o in self.outputs:
            o.grad_output, o.grad_logits = grads[o.output_id], grads[o.logits_id]
        if len(self.outputs) == 1:
            self.grad_output, self.grad_logits = self.outputs[0].grad_output, self.outputs[0].grad_logits
        self._backward_calls = calls
        self._zeroed = [w.grad for layer in self.graph.layers if id(layer) not in fresh for w in layer.weights_list
                        if w.grad is not None]

    def zero_gradients(self):  # before backward(): the weight gradients it adds to, not those it writes
        for grad in self._zeroed:
            self.backend.fill(grad, 0.0)

    def _add_training_workspace(self):
        # Scratch a layer wants only when it trains (a transposed kernel, a dropout mask), made once.
        for step in self.steps:
            if isinstance(step, _LayerStep):
                for name, spec in step.layer.workspace(self.batch, training=True).items():
                    if name not in step.ctx.ws:
                        step.ctx.ws[name] = self._empty(spec)

    def backward(self):
        """From grad_logits down to every weight gradient; the losses have written every output's grad_logits."""
        for fn, args in self._backward_calls:
            fn(*args)


class Output:
    """One of the plan's outputs as its loss sees it (losses.py): `logits` beneath the output activation (the
    head; one array with `output` without one), `output` above it, their gradients once the plan trains, and
    head_forward() / head_backward() between them. scratch() keeps this output's buffers apart from others'."""

    def __init__(self, plan, index, step):
        self.plan, self.index, self.batch, self.step = plan, index, plan.batch, step
        self.output_id = plan.graph.output_ids[index]
        self.head = step.activation if isinstance(step, _ActivationStep) else None
        self.logits_id = step.ins[0] if self.head is not None else self.output_id
        self.output, self.logits = plan.values[self.output_id], plan.values[self.logits_id]
        self._forward_call = step.forward_call(plan.values) if self.head is not None else None
        self.backward_calls = ()  # set when the plan first trains
        self._done = 0  # the forward pass whose output is written (without a head, always current)

    def head_forward(self):
        """output = head(logits), once per forward pass: later calls find it done."""
        if self._done != self.plan.passes and self._forward_call is not None:
            fn, args = self._forward_call
            fn(*args)
            self._done = self.plan.passes

    def output_written(self):
        """Say that `output` holds head(logits) already: a loss kernel wrote it on the way (softmax with
        cross-entropy does), so head_forward() need not run."""
        self._done = self.plan.passes

    def head_backward(self):
        """grad_logits from grad_output, through the head (nothing without a head)."""
        for fn, args in self.backward_calls:
            fn(*args)

    def scratch(self, name, shape, dtype=DTYPE):
        return self.plan.scratch(name if len(self.plan.outputs) == 1 else f'{name}/{self.index}', shape, dtype)
