"""The backward engine: reverse-mode accumulation over the recorded graph.

The graph is a DAG whose nodes are the contexts of Function calls plus one
``AccumulateGrad`` node per leaf tensor. An edge ``(node, i)`` says "this input came from
output ``i`` of ``node``". Backward runs in two passes, both without recursion so a chain
of 20,000 ops is fine:

1. Walk the graph from the root with an explicit stack and count, for every node, how
   many edges point at it (its number of consumers).
2. Kahn's algorithm: a node runs once all its consumers have sent their gradient. The
   gradients sent to the same output are summed (the multivariate chain rule for a value
   used several times, e.g. a diamond a -> b, a -> c, (b, c) -> d).

Incoming gradients are never modified in place: sums make new arrays.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .function import Context, _freed_message, forward_location
from .grad_mode import STATE, AnomalyError


class AccumulateGrad:
    """The graph node of a leaf tensor: adds the arriving gradient to ``tensor.grad``."""

    __slots__ = ("variable",)
    _next_edges = ()
    _freed = False
    name = "AccumulateGrad"

    def __init__(self, variable):
        self.variable = variable

    def accumulate(self, grad):
        leaf = self.variable
        for hook in leaf._hooks or ():
            grad = _run_hook(hook, grad, leaf.shape)
        if leaf.grad is None:
            leaf.grad = grad.copy()
        else:
            leaf.grad = leaf.grad + grad


def _run_hook(hook, grad, shape):
    """A hook (array in, array or None out) may keep the gradient (None) or replace it with
    one of the same shape."""
    new = hook(grad)
    if new is None:
        return grad
    if new.shape != shape:
        raise RuntimeError(f"a gradient hook returned shape {new.shape}, expected {shape}")
    return new


def run_backward(roots, grads, retain_graph=False, capture=None):
    """Propagate ``grads`` (one array per root tensor) back through the graph.

    Without ``capture`` the leaves' ``.grad`` are accumulated. With ``capture`` (a list of
    tensors) nothing is accumulated: the gradients reaching those tensors are returned in
    that order (None for a tensor the roots do not depend on), and only the parts of the
    graph that lead to them are computed.
    """
    start = [(t._edge(), g) for t, g in zip(roots, grads)]
    start_nodes = [edge[0] for edge, _ in start]
    deps = _count_dependencies(start_nodes)
    targets = useful = None
    if capture is not None:
        targets = {_target_key(t): i for i, t in enumerate(capture)}
        useful = _nodes_leading_to(_topological_order(start_nodes, deps), targets)
    captured = None if capture is None else [None] * len(capture)

    buffers = {}
    for (node, index), grad in start:
        _add_to_buffer(buffers, node, index, grad)
    ready = [node for (node, _), _ in start if deps.get(id(node), 0) == 0]
    ready = list({id(n): n for n in ready}.values())
    while ready:
        node = ready.pop()
        node_grads = buffers.pop(id(node), None)
        if isinstance(node, AccumulateGrad):
            if node_grads is None:
                continue
            if targets is None:
                node.accumulate(node_grads[0])
            elif (id(node), 0) in targets:
                captured[targets[(id(node), 0)]] = _hooked(node, node_grads[0])
            continue
        edges = node._next_edges
        if node_grads is None:  # every consumer sent None: nothing flows through this node
            input_grads = [None] * len(edges)
        else:
            node_grads = _prepare_output_grads(node, node_grads)
            if targets is not None:
                for i, g in enumerate(node_grads):
                    if (id(node), i) in targets:
                        captured[targets[(id(node), i)]] = g
            input_grads = _call_backward(node, node_grads, edges, useful)
        if not retain_graph:
            node._free()
        for edge, grad in zip(edges, input_grads):
            if edge is None:
                continue
            child, index = edge
            if useful is not None and id(child) not in useful:
                continue
            if grad is not None:
                _add_to_buffer(buffers, child, index, grad)
            remaining = deps[id(child)] - 1
            deps[id(child)] = remaining
            if remaining == 0:
                ready.append(child)
    return captured


def _count_dependencies(start_nodes):
    """Number of consumers (incoming edges) of every node reachable from the start.

    A node may start the walk more than once (two roots that are outputs of one node, or
    the same root twice); its edges must still be counted once, as it runs once.
    """
    deps = {}
    stack = list({id(n): n for n in start_nodes}.values())
    seen = {id(n) for n in stack}
    while stack:
        node = stack.pop()
        if node._freed:
            raise RuntimeError(_freed_message(node))
        for edge in node._next_edges:
            if edge is None:
                continue
            child = edge[0]
            key = id(child)
            deps[key] = deps.get(key, 0) + 1
            if key not in seen:
                seen.add(key)
                stack.append(child)
    return deps


def _topological_order(start_nodes, deps):
    """Roots first, leaves last (Kahn's algorithm on a copy of the counts)."""
    remaining = dict(deps)
    ready = [n for n in {id(n): n for n in start_nodes}.values() if remaining.get(id(n), 0) == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for edge in node._next_edges:
            if edge is None:
                continue
            key = id(edge[0])
            remaining[key] -= 1
            if remaining[key] == 0:
                ready.append(edge[0])
    return order


def _target_key(tensor):
    if tensor.grad_fn is None:
        if not tensor.requires_grad:
            raise RuntimeError("grad(): one of the inputs does not require grad")
        return (id(tensor._accumulator()), 0)
    return (id(tensor.grad_fn), tensor._output_index)


def _nodes_leading_to(order, targets):
    """Ids of the nodes from which some target is reachable (leaves to roots)."""
    target_nodes = {key[0] for key in targets}
    useful = set()
    for node in reversed(order):
        if id(node) in target_nodes or any(
                e is not None and id(e[0]) in useful for e in node._next_edges):
            useful.add(id(node))
    return useful


def _add_to_buffer(buffers, node, index, grad):
    slots = buffers.get(id(node))
    if slots is None:
        slots = buffers[id(node)] = [None] * _num_outputs(node)
    current = slots[index]
    slots[index] = grad if current is None else current + grad


def _num_outputs(node):
    meta = getattr(node, "_output_meta", None)
    return 1 if meta is None else len(meta)


def _hooked(node, grad):
    for hook in node.variable._hooks or ():
        grad = _run_hook(hook, grad, node.variable.shape)
    return grad


def _prepare_output_grads(node, grads):
    """Fill in zeros for outputs that got no gradient, then run tensor hooks and retain_grad."""
    meta = getattr(node, "_output_meta", None)
    if meta is not None:
        for i, (shape, dtype) in enumerate(meta):
            if grads[i] is None and node._differentiable[i]:
                xp = backend.get_array_module(*[g for g in grads if g is not None])
                grads[i] = xp.zeros(shape, dtype)
    hooks = node.__dict__.get("_tensor_hooks")
    if hooks:
        for i, fns in hooks.items():
            for fn in fns:
                grads[i] = _run_hook(fn, grads[i], grads[i].shape)
    retained = node.__dict__.get("_retained")
    if retained:
        for i, ref in retained.items():
            tensor = ref()
            if tensor is not None:
                tensor.grad = grads[i].copy() if tensor.grad is None else tensor.grad + grads[i]
    return grads


def _call_backward(node, grads, edges, useful):
    """Call the Function's backward and check what it returns against the inputs.

    Under ``grad()`` (``useful`` given) the backward is asked only for the gradients that
    lead to the requested inputs; the node's own ``needs_input_grad`` is restored after,
    so a later backward through a retained graph computes everything again.
    """
    needs = node.needs_input_grad
    if useful is not None:
        node.needs_input_grad = tuple(
            n and e is not None and id(e[0]) in useful for n, e in zip(needs, edges))
    try:
        result = node._function.backward(node, *grads)
    finally:
        node.needs_input_grad = needs
    if not isinstance(result, tuple):
        result = (result,)
    if len(result) != len(edges):
        raise RuntimeError(f"backward of {node.name} returned {len(result)} gradients, "
                           f"but its forward took {len(edges)} inputs")
    checked = []
    for i, (grad, meta) in enumerate(zip(result, node._input_meta)):
        if grad is None or meta is None:
            checked.append(None)
            continue
        grad = _check_grad(node, i, grad, meta)
        checked.append(grad)
    return checked


def _check_grad(node, i, grad, meta):
    shape, dtype = meta
    if not hasattr(grad, "shape"):
        grad = np.asarray(grad, dtype)
    if grad.shape != shape:
        raise RuntimeError(f"backward of {node.name} returned a gradient of shape {grad.shape} "
                           f"for input {i} of shape {shape}")
    if grad.dtype != dtype:
        grad = grad.astype(dtype)
    if STATE.anomaly:
        xp = backend.get_array_module(grad)
        if not bool(xp.isfinite(grad).all()):
            raise AnomalyError(f"backward of {node.name} returned NaN or Inf in the gradient "
                               f"for input {i}{forward_location(node)}")
    return grad


__all__ = ["AccumulateGrad", "Context", "run_backward"]
