"""nn.Module and the basic layers: registration, traversal, modes, dtype moves, state dicts,
forward hooks, containers, activation values, initialisers, and parity with PyTorch."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import minidl
import minidl.functional as F
import minidl.nn as nn
from minidl.nn import init


def f64(values, requires_grad=False):
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


class Block(nn.Module):
    """A layer, a parameter, a persistent and a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))
        self.register_buffer("running", np.zeros(4, dtype=np.float32))
        self.register_buffer("scratch", np.zeros(2, dtype=np.float32), persistent=False)
        self.register_buffer("count", np.zeros((), dtype=np.int64))
        self.not_a_param = np.ones(3)  # plain attribute

    def forward(self, x):
        return self.fc(x) * self.scale + self.running


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.block(x))


# ----------------------------------------------------------------------------- registration
def test_attribute_assignment_registers_parameters_buffers_and_submodules():
    b = Block()
    assert list(b._parameters) == ["scale"]
    assert list(b._modules) == ["fc"]
    assert list(b._buffers) == ["running", "scratch", "count"]
    assert "not_a_param" not in b._parameters and "not_a_param" not in b._buffers
    assert isinstance(b.running, minidl.Tensor) and not b.running.requires_grad
    assert b.fc.weight.requires_grad and isinstance(b.fc.weight, nn.Parameter)


def test_named_parameters_use_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "head.1.weight",
                     "head.1.bias"]
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.block.named_parameters(prefix="x")][:1] == ["x.scale"]


def test_buffers_modules_children():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == ["block.running", "block.scratch", "block.count"]
    assert len(list(net.buffers())) == 3
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "head", "head.0",
                                                   "head.1"]
    assert list(net.modules())[0] is net
    assert list(net.children()) == [net.block, net.head]
    assert [n for n, _ in net.named_children()] == ["block", "head"]


def test_reassignment_rules():
    b = Block()
    with pytest.raises(TypeError, match="cannot assign a ndarray to parameter 'scale'"):
        b.scale = np.zeros(4)
    b.scale = None  # an optional parameter may be removed
    assert "scale" not in [n for n, _ in b.named_parameters()]
    b.running = np.ones(4, dtype=np.float32)  # assigning to a buffer keeps it a buffer
    assert isinstance(b.running, minidl.Tensor)
    np.testing.assert_array_equal(b.state_dict()["running"], np.ones(4))
    b.fc = nn.Identity()  # replacing a submodule drops the old one's parameters
    assert [n for n, _ in b.named_parameters()] == []
    del b.fc
    assert "fc" not in b._modules
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = b.missing


def test_register_parameter_none_and_type_checks():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert list(layer.state_dict()) == ["weight"]
    with pytest.raises(TypeError, match="needs an nn.Parameter"):
        layer.register_parameter("w2", minidl.tensor([1.0]))


def test_shared_parameters_are_listed_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    shared = nn.Sequential(a, nn.ReLU(), a)
    assert [n for n, _ in shared.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(shared.modules())) == 3  # the shared Linear counted once


def test_state_dict_lists_a_shared_module_under_every_name():
    # As in PyTorch: a checkpoint of a model that reuses a module has every name's entries.
    a = nn.Linear(2, 2)
    shared = nn.Sequential(a, nn.ReLU(), a)
    assert list(shared.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    other = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), None)
    other._modules["2"] = other._modules["0"]
    other.load_state_dict(shared.state_dict())
    np.testing.assert_array_equal(other[0].weight.data, a.weight.data)


def test_apply_visits_children_first_then_self():
    net = Net()
    order = []
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    assert order == ["Linear", "Block", "ReLU", "Linear", "Sequential", "Net"]
    net.apply(lambda m: init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert all(np.all(m.weight.data == 0) for m in net.modules() if isinstance(m, nn.Linear))


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not any(m.training for m in net.modules())


def test_train_calls_the_childrens_train():
    class FrozenInEval(nn.Module):
        def train(self, mode=True):
            return super().train(False)

    model = nn.Sequential(nn.Linear(2, 2), FrozenInEval())
    model.train()
    assert model.training and model[0].training and not model[1].training


def test_to_dtype_casts_in_place_keeping_parameter_objects():
    net = Net()
    params_before = list(net.parameters())
    buffers_before = list(net.buffers())
    net(minidl.randn(5, 3)).sum().backward()
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params_before]
    assert [id(b) for b in net.buffers()] == [id(b) for b in buffers_before]
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(p.grad.dtype == np.float64 for p in net.parameters())
    assert net.block.running.dtype == np.float64 and net.block.scratch.dtype == np.float64
    assert net.block.count.dtype == np.int64  # integer buffers are not cast
    net.to(np.float32)
    assert all(p.dtype == np.float32 for p in net.parameters())
    with pytest.raises(TypeError, match="floating"):
        net.to(np.int32)


def test_optimizer_built_before_to_dtype_still_updates_the_model():
    model = nn.Linear(2, 1)
    opt = minidl.optim.SGD(model.parameters(), lr=0.1)
    model.double()
    before = model.weight.data.copy()
    model(f64([[1.0, 2.0]])).sum().backward()
    opt.step()
    np.testing.assert_allclose(model.weight.data, before - 0.1 * np.array([[1.0, 2.0]]))
    assert model.weight.dtype == np.float64


def test_module_zero_grad():
    net = Net()
    net(minidl.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# ----------------------------------------------------------------------------- state dicts
def test_state_dict_round_trip():
    net = Net()
    state = net.state_dict()
    assert list(state) == ["block.scale", "block.running", "block.count", "block.fc.weight",
                           "block.fc.bias", "head.1.weight", "head.1.bias"]
    assert "block.scratch" not in state  # non-persistent
    minidl.manual_seed(99)
    other = Net()
    assert not np.array_equal(other.block.fc.weight.data, net.block.fc.weight.data)
    result = other.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    x = minidl.randn(4, 3)
    np.testing.assert_array_equal(other(x).numpy(), net(x).numpy())


def test_load_state_dict_copies_the_values():
    model = nn.Linear(2, 2)
    state = {k: v.copy() for k, v in model.state_dict().items()}
    other = nn.Linear(2, 2)
    other.load_state_dict(state)
    state["weight"][...] = 123.0
    assert not np.any(other.weight.data == 123.0)


def test_load_state_dict_accepts_tensors_and_casts_to_the_parameter_dtype():
    model = nn.Linear(2, 2)
    state = {"weight": f64([[1.0, 2.0], [3.0, 4.0]]), "bias": np.array([0.5, 0.25])}
    model.load_state_dict(state)
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, [[1, 2], [3, 4]])


def test_strict_load_errors_list_every_bad_key():
    net = Net()
    state = dict(net.state_dict())
    del state["block.fc.bias"]
    del state["head.1.weight"]
    state["block.extra"] = np.zeros(3)
    state["decoder.weight"] = np.zeros(3)
    state["block.running"] = np.zeros(5, dtype=np.float32)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    for key in ("block.fc.bias", "head.1.weight", "block.extra", "decoder.weight",
                "block.running"):
        assert key in message
    assert "missing keys: block.fc.bias, head.1.weight" in message
    assert "unexpected keys: block.extra, decoder.weight" in message
    assert "block.running: checkpoint (5,) vs model (4,)" in message


def test_non_strict_load_returns_missing_and_unexpected():
    net = Net()
    reference = Net()
    state = dict(reference.state_dict())
    del state["head.1.bias"]
    state["surplus"] = np.zeros(1)
    bias_before = net.head[1].bias.data.copy()
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["head.1.bias"]
    assert result.unexpected_keys == ["surplus"]
    np.testing.assert_array_equal(net.head[1].weight.data, reference.head[1].weight.data)
    np.testing.assert_array_equal(net.head[1].bias.data, bias_before)


def test_wrong_shape_fails_even_when_not_strict():
    model = nn.Linear(3, 2)
    state = {"weight": np.zeros((3, 2), np.float32), "bias": np.zeros(2, np.float32)}
    with pytest.raises(RuntimeError, match=r"weight: checkpoint \(3, 2\) vs model \(2, 3\)"):
        model.load_state_dict(state, strict=False)


# ----------------------------------------------------------------------------- hooks
def test_forward_hook_sees_inputs_and_output_and_can_replace_the_output():
    layer = nn.Linear(3, 2)
    seen = []

    def observe(module, inputs, output):
        seen.append((module, inputs, output))

    h1 = layer.register_forward_hook(observe)
    h2 = layer.register_forward_hook(lambda m, i, o: o * 0 + 7)
    x = minidl.randn(4, 3)
    out = layer(x)
    assert seen[0][0] is layer and seen[0][1][0] is x and seen[0][2].shape == (4, 2)
    np.testing.assert_array_equal(out.numpy(), np.full((4, 2), 7.0))
    h2.remove()
    out = layer(x)
    np.testing.assert_allclose(out.numpy(), F.linear(x, layer.weight, layer.bias).numpy())
    h1.remove()
    layer(x)
    assert len(seen) == 2


def test_forward_pre_hook_can_replace_the_inputs():
    layer = nn.Identity()
    handle = layer.register_forward_pre_hook(lambda m, inputs: inputs[0] * 2)
    np.testing.assert_array_equal(layer(f64([1.0, 2.0])).numpy(), [2.0, 4.0])
    handle.remove()
    np.testing.assert_array_equal(layer(f64([1.0, 2.0])).numpy(), [1.0, 2.0])

    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    add = Add()
    add.register_forward_pre_hook(lambda m, inputs: (inputs[1], inputs[1]))
    np.testing.assert_array_equal(add(f64([1.0]), f64([5.0])).numpy(), [10.0])


def test_hooks_on_a_submodule_run_inside_the_parent():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    captured = {}
    model[1].register_forward_hook(lambda m, i, o: captured.setdefault("relu", o))
    model(minidl.randn(2, 3))
    assert np.all(captured["relu"].numpy() >= 0)


# ----------------------------------------------------------------------------- containers
def test_sequential_indexing_slicing_len_and_names():
    a, b, c = nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2 and tail[0] is b
    assert list(tail._modules) == ["1", "2"]  # names kept, as in PyTorch
    x = minidl.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).numpy())
    np.testing.assert_allclose(tail(a(x)).numpy(), seq(x).numpy())
    named = nn.Sequential(OrderedDict(encoder=nn.Linear(2, 3), act=nn.ReLU(), decoder=nn.Linear(3, 1)))
    assert list(named.state_dict()) == ["encoder.weight", "encoder.bias", "decoder.weight",
                                        "decoder.bias"]
    assert named.encoder is named[0]
    named.append(nn.Sigmoid())
    assert len(named) == 4 and list(named._modules)[-1] == "3"


def test_module_list_and_module_dict_register_their_members():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    layers.append(nn.Linear(2, 1))
    layers.extend([nn.ReLU()])
    assert len(layers) == 4
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight",
                                                         "1.bias", "2.weight", "2.bias"]
    assert isinstance(layers[:2], nn.ModuleList) and len(layers[:2]) == 2
    assert layers[-1] is list(layers)[-1]

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = layers
            self.heads = nn.ModuleDict({"a": nn.Linear(1, 1)})

    names = [n for n, _ in Holder().named_parameters()]
    assert names[:2] == ["layers.0.weight", "layers.0.bias"] and names[-2:] == ["heads.a.weight",
                                                                                 "heads.a.bias"]


# ----------------------------------------------------------------------------- layers
def test_linear_forward_value():
    layer = nn.Linear(3, 2).double()
    layer.load_state_dict({"weight": np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]]),
                           "bias": np.array([0.5, -0.5])})
    x = f64([[1.0, 1.0, 1.0], [2.0, 0.0, -2.0]])
    np.testing.assert_allclose(layer(x).numpy(), [[6.5, -1.0], [-3.5, -3.5]])
    batched = minidl.randn(2, 5, 3, dtype=np.float64)  # any leading axes
    np.testing.assert_allclose(layer(batched).numpy(),
                               batched.numpy() @ layer.weight.data.T + layer.bias.data)


def test_activation_layers_forward_values():
    v = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    x = f64(v)
    np.testing.assert_array_equal(nn.ReLU()(x).numpy(), np.maximum(v, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(x).numpy(), np.where(v > 0, v, 0.2 * v))
    np.testing.assert_allclose(nn.LeakyReLU()(x).numpy(), np.where(v > 0, v, 0.01 * v))
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(v), rtol=1e-15)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-v)), rtol=1e-15)
    m = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1000.0]])
    soft = nn.Softmax(dim=1)(f64(m)).numpy()
    expected = np.exp(m - m.max(1, keepdims=True))
    np.testing.assert_allclose(soft, expected / expected.sum(1, keepdims=True), rtol=1e-14)
    soft0 = nn.Softmax(dim=0)(f64(m)).numpy()
    np.testing.assert_allclose(soft0.sum(axis=0), [1.0, 1.0, 1.0])
    x4 = minidl.randn(2, 3, 4, 5)
    assert nn.Flatten()(x4).shape == (2, 60)
    assert nn.Flatten(0, 1)(x4).shape == (6, 4, 5)
    np.testing.assert_array_equal(nn.Flatten()(x4).numpy(), x4.numpy().reshape(2, 60))
    assert nn.Identity(54, unused="x")(x4) is x4


# ----------------------------------------------------------------------------- init
def _big(shape=(400, 500)):
    return nn.Parameter(np.zeros(shape, dtype=np.float64))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_variance(mode):
    w = init.kaiming_normal_(_big(), mode=mode, nonlinearity="relu")
    fan = 500 if mode == "fan_in" else 400
    # 200k samples: the sample variance is within 1% of 2 / fan with overwhelming probability
    np.testing.assert_allclose(w.data.var(), 2.0 / fan, rtol=0.015)
    assert abs(w.data.mean()) < 5 * math.sqrt(2.0 / fan / w.data.size)


def test_kaiming_uniform_bounds_and_variance():
    w = init.kaiming_uniform_(_big(), a=0.0, nonlinearity="leaky_relu")  # gain sqrt(2)
    bound = math.sqrt(6.0 / 500)
    assert np.abs(w.data).max() <= bound
    assert np.abs(w.data).max() > 0.999 * bound
    np.testing.assert_allclose(w.data.var(), bound ** 2 / 3, rtol=0.01)


def test_kaiming_on_a_conv_shaped_weight_uses_the_receptive_field():
    w = init.kaiming_normal_(nn.Parameter(np.zeros((64, 32, 5, 5))), mode="fan_out")
    assert init.calculate_fan_in_and_fan_out(w) == (32 * 25, 64 * 25)
    np.testing.assert_allclose(w.data.var(), 2.0 / (64 * 25), rtol=0.03)  # 51k samples: ~5 sigma


def test_xavier_normal_and_uniform():
    w = init.xavier_normal_(_big(), gain=2.0)
    np.testing.assert_allclose(w.data.var(), 4.0 * 2.0 / 900, rtol=0.015)
    u = init.xavier_uniform_(_big())
    bound = math.sqrt(6.0 / 900)
    assert np.abs(u.data).max() <= bound and np.abs(u.data).max() > 0.999 * bound
    np.testing.assert_allclose(u.data.var(), 2.0 / 900, rtol=0.01)


def test_zeros_ones_constant_and_gains():
    w = nn.Parameter(np.full((3, 4), 5.0))
    assert init.zeros_(w) is w and np.all(w.data == 0)
    assert init.ones_(w) is w and np.all(w.data == 1)
    np.testing.assert_allclose(init.calculate_gain("tanh"), 5 / 3)
    np.testing.assert_allclose(init.calculate_gain("leaky_relu", 0.2), math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="fan in and fan out"):
        init.xavier_uniform_(nn.Parameter(np.zeros(5)))


def test_init_keeps_dtype_and_is_seeded():
    minidl.manual_seed(5)
    a = init.normal_(nn.Parameter(np.zeros((3, 3), np.float32))).data.copy()
    minidl.manual_seed(5)
    b = init.normal_(nn.Parameter(np.zeros((3, 3), np.float32)))
    assert b.dtype == np.float32
    np.testing.assert_array_equal(a, b.data)


def test_linear_default_init_bound():
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.data, layer.bias.data
    assert w.dtype == np.float32 and w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    np.testing.assert_allclose(w.var(), bound ** 2 / 3, rtol=0.02)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.95 * bound


# ----------------------------------------------------------------------------- PyTorch parity
def _mlp_pair(torch):
    tnn = torch.nn
    torch_model = tnn.Sequential(tnn.Linear(5, 16), tnn.Tanh(), tnn.Linear(16, 8), tnn.ReLU(),
                                 tnn.Linear(8, 3)).double()
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(),
                          nn.Linear(8, 3)).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})
    return torch_model, model


def test_names_match_pytorch(torch):
    tnn = torch.nn

    class TBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tnn.Linear(3, 4)
            self.scale = tnn.Parameter(torch.ones(4))
            self.register_buffer("running", torch.zeros(4))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)
            self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    class TNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.block = TBlock()
            self.head = tnn.Sequential(tnn.ReLU(), tnn.Linear(4, 2))

    ours, theirs = Net(), TNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    shared = tnn.Linear(2, 2)
    tied = tnn.Sequential(shared, tnn.ReLU(), shared)
    a = nn.Linear(2, 2)
    assert list(nn.Sequential(a, nn.ReLU(), a).state_dict()) == list(tied.state_dict())
    assert ([n for n, _ in nn.Sequential(a, nn.ReLU(), a).named_parameters()]
            == [n for n, _ in tied.named_parameters()])


def test_torch_state_dict_loads_and_gives_the_same_outputs(torch):
    torch_model, model = _mlp_pair(torch)
    x = np.random.default_rng(1).standard_normal((7, 5))
    expected = torch_model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(f64(x)).numpy(), expected, rtol=1e-12, atol=1e-14)


def test_torch_float32_linear_loads_into_the_default_model(torch):
    torch_layer = torch.nn.Linear(6, 4)
    layer = nn.Linear(6, 4)
    layer.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(layer(minidl.tensor(x)).numpy(),
                               torch_layer(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_mlp_gradients_match_torch(torch):
    torch_model, model = _mlp_pair(torch)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 5))
    y = rng.integers(0, 3, 10)
    torch_loss = torch.nn.functional.cross_entropy(torch_model(torch.from_numpy(x)),
                                                   torch.from_numpy(y))
    torch_loss.backward()
    loss = F.cross_entropy(model(f64(x)), minidl.tensor(y))
    loss.backward()
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-13)
    torch_grads = {n: p.grad.numpy() for n, p in torch_model.named_parameters()}
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, torch_grads[name], rtol=1e-10, atol=1e-14,
                                   err_msg=name)
