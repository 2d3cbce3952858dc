"""The battery every entry of the op table (tests/op_table/) gets:

1. gradcheck: the backward against central finite differences, in float64;
2. backward leaves the forward inputs, the forward output, the hyper-parameters and the
   incoming gradient alone, and the gradient it hands back aliases none of them;
3. backward twice on the same inputs gives identical bits (no order-dependent sums);
4. the forward equals an independent NumPy oracle (bitwise for ops that only move values);
5. the fused op equals its composed definition, forward and backward;
6. float32 in gives float32 out and float32 gradients, close to the float64 results;
7. where PyTorch is installed, forward and backward equal PyTorch's in float64;
8. where the op runs through kernels with a Numba implementation, "numba" and "reference"
   give the same results in float32 and float64;

and a check that every differentiable Function of minidl is reached by some entry. Every
call of an op is preceded by ``manual_seed(SEED)``, so ops that draw random numbers
(dropout) see the same mask in every call of a test.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import minidl
from tests.op_table import ENTRIES, SEED

TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def entries_with(field):
    return [e for e in ENTRIES if getattr(e, field)]


def by_entry(entries):
    return pytest.mark.parametrize("entry", entries, ids=[e.name for e in entries])


def call(entry, params, tensors, fn=None):
    minidl.manual_seed(SEED)
    return (fn or entry.fn)(params, *tensors)


def forward_backward(entry, arrays, params, fn=None):
    """Fresh leaves for ``arrays``; the op; backward with a seeded random upstream gradient.
    Returns (leaves, output, upstream gradient)."""
    leaves = [minidl.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = call(entry, params, leaves, fn)
    g = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    return leaves, out, g


def snapshot(value):
    """A deep copy of the arrays inside ``value`` (tuples, arrays, scalars, dataclasses)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(snapshot(v) for v in value)
    return value


def assert_same_bits(a, b, what):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, what
        assert a.tobytes() == b.tobytes(), f"{what} was modified"
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), what
        for x, y in zip(a, b):
            assert_same_bits(x, y, what)
    else:
        assert a == b or (a is None and b is None), what


def cast(value, dtype):
    """Float arrays (also inside tuples) in ``dtype``; anything else as it is."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    if isinstance(value, tuple):
        return tuple(cast(v, dtype) for v in value)
    return value


def assert_close(got, expected, what, rtol, atol):
    """Close to ``rtol`` plus ``atol`` times the size of the expected values."""
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol * scale, err_msg=what)


# ------------------------------------------------------------------------------ 1. gradcheck
@by_entry(ENTRIES)
@given(data=st.data())
def test_gradcheck(entry, data):
    arrays, params = data.draw(entry.draw)
    leaves = [minidl.tensor(a, requires_grad=True) for a in arrays]
    assert minidl.gradcheck(lambda *t: call(entry, params, t), leaves, mode=entry.gradcheck)


# ---------------------------------------------------------------- 2. nothing is modified
@by_entry(ENTRIES)
@given(data=st.data())
def test_backward_leaves_its_inputs_and_the_incoming_gradient_alone(entry, data):
    arrays, params = data.draw(entry.draw)
    arrays_before, params_before = snapshot(arrays), snapshot(params)
    leaves = [minidl.tensor(a, requires_grad=True) for a in arrays]
    out = call(entry, params, leaves)
    out_before = out.data.copy()
    g = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    g_before = g.copy()
    out.backward(g)
    assert_same_bits(g, g_before, "the incoming gradient")
    assert_same_bits(out.data, out_before, "the forward output")
    assert_same_bits(arrays, arrays_before, "a forward input")
    assert_same_bits(params, params_before, "a hyper-parameter (index, target, weight, ...)")
    for leaf in leaves:
        assert leaf.grad is not None and leaf.grad.shape == leaf.shape
        assert not np.shares_memory(leaf.grad, g), "the gradient aliases the incoming one"
        assert not np.shares_memory(leaf.grad, out.data), "the gradient aliases the output"


# ------------------------------------------------------------------- 3. the same bits twice
@by_entry(ENTRIES)
@given(data=st.data())
def test_backward_twice_gives_identical_bits(entry, data):
    arrays, params = data.draw(entry.draw)
    first, out_first, _ = forward_backward(entry, arrays, params)
    second, out_second, _ = forward_backward(entry, arrays, params)
    assert_same_bits(out_second.data, out_first.data, "the forward of a second run")
    for a, b in zip(first, second):
        assert_same_bits(b.grad, a.grad, "the gradient of a second run")


# ------------------------------------------------------------------------- 4. the oracle
@by_entry(entries_with("oracle"))
@given(data=st.data())
def test_forward_matches_the_oracle(entry, data):
    arrays, params = data.draw(entry.draw)
    out = call(entry, params, [minidl.tensor(a) for a in arrays])
    expected = np.asarray(entry.oracle(params, *arrays))
    assert isinstance(out, minidl.Tensor) and out.dtype == np.float64
    assert out.shape == expected.shape
    if entry.exact:
        np.testing.assert_array_equal(out.numpy(), expected)
    else:
        np.testing.assert_allclose(out.numpy(), expected, **TIGHT)


# --------------------------------------------------------------- 5. the composed definition
@by_entry(entries_with("composed"))
@given(data=st.data())
def test_fused_op_equals_its_composed_definition(entry, data):
    arrays, params = data.draw(entry.draw)
    fused, out_fused, _ = forward_backward(entry, arrays, params)
    composed, out_composed, _ = forward_backward(entry, arrays, params, entry.composed)
    np.testing.assert_allclose(out_fused.numpy(), out_composed.numpy(), **TIGHT)
    for a, b in zip(fused, composed):
        np.testing.assert_allclose(a.grad, b.grad, **TIGHT)


# -------------------------------------------------------------------------------- 6. dtypes
@by_entry(ENTRIES)
@given(data=st.data())
def test_float32_in_gives_float32_out_close_to_float64(entry, data):
    arrays, params = data.draw(entry.draw)
    leaves, out, _ = forward_backward(entry, cast(arrays, np.float32), cast(params, np.float32))
    assert out.dtype == np.float32, f"float32 in, {out.dtype} out"
    assert all(leaf.grad.dtype == np.float32 for leaf in leaves)
    ref_leaves, ref_out, _ = forward_backward(entry, arrays, params)
    assert_close(out.numpy(), ref_out.numpy(), "forward", 1e-4, 1e-5)
    for leaf, ref in zip(leaves, ref_leaves):
        assert_close(leaf.grad, ref.grad, "gradient", 1e-4, 1e-4)


# -------------------------------------------------------------------------------- 7. PyTorch
@by_entry(entries_with("torch"))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_matches_torch(torch, entry, data):
    arrays, params = data.draw(entry.draw)
    leaves, out, g = forward_backward(entry, arrays, params)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    reference = entry.torch(torch, params, *theirs)
    assert out.shape == tuple(reference.shape)
    np.testing.assert_allclose(out.numpy(), reference.detach().numpy(), **TIGHT)
    reference.backward(torch.from_numpy(g))
    for leaf, their in zip(leaves, theirs):
        np.testing.assert_allclose(leaf.grad, their.grad.numpy(), **TIGHT)


# ---------------------------------------------------------------------- 8. implementations
@by_entry(entries_with("kernels"))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@given(data=st.data())
def test_numba_kernels_agree_with_the_reference_kernels(entry, dtype, data):
    arrays, params = data.draw(entry.draw)
    arrays, params = cast(arrays, dtype), cast(params, dtype)
    results = {}
    for implementation in ("reference", "numba"):
        with minidl.kernels.use(implementation):
            leaves, out, _ = forward_backward(entry, arrays, params)
        results[implementation] = [out.data] + [leaf.grad for leaf in leaves]
    tolerance = (2e-5, 2e-5) if dtype == np.float32 else (1e-10, 1e-12)
    for fast, reference in zip(results["numba"], results["reference"]):
        assert fast.dtype == reference.dtype == dtype
        assert_close(fast, reference, entry.name, *tolerance)


# ------------------------------------------------------------------------------ coverage
IDENTITIES = {"CastFunction", "ToDeviceFunction"}  # the identity, up to dtype or device


def differentiable_functions():
    """Every concrete Function class defined in minidl (subclasses of another Function that
    only share code, like MaxFunction and MinFunction, count; their base does not)."""
    found = set()
    for info in pkgutil.walk_packages(minidl.__path__, "minidl."):
        if ".cuda" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, minidl.Function)
                    and value is not minidl.Function
                    and value.__module__ == module.__name__ and "forward" in vars(value)):
                found.add(name)
    return found - IDENTITIES


def functions_in_graph(out):
    names, stack, seen = set(), [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "_function"):
            continue
        seen.add(id(node))
        names.add(node._function.__name__)
        stack.extend(edge[0] for edge in node._next_edges if edge is not None)
    return names


def test_every_differentiable_function_has_an_entry():
    reached = set()
    for entry in ENTRIES:
        arrays, params = find(entry.draw, lambda _: True,
                              settings=settings(database=None, phases=[Phase.generate]))
        leaves = [minidl.tensor(a, requires_grad=True) for a in arrays]
        reached |= functions_in_graph(call(entry, params, leaves))
    missing = differentiable_functions() - reached
    assert not missing, f"no op-table entry reaches {sorted(missing)}"
