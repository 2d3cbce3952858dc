"""Optimisers and learning-rate schedules.

Each update rule is checked against PyTorch (where installed) step by step in float64, and
against an independent NumPy transcription of the formula in its docstring. Schedules are
compared with PyTorch's rate (and momentum) sequences; state dicts must resume bit for bit;
and a small MLP must solve XOR with every optimiser.
"""
import copy
import importlib.util

import numpy as np
import pytest

import minidl
from tests.helpers import REPO_ROOT
import minidl.functional as F
import minidl.nn as nn
from minidl import optim

STEPS = 7
SHAPES = [(3, 4), (5,)]


def _problem(seed=0):
    """Initial parameters and a sequence of gradients, identical for both frameworks."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    return params, grads


def _run_minidl(make, params, grads):
    ps = [nn.Parameter(p.copy()) for p in params]
    opt = make(ps)
    history = []
    for step_grads in grads:
        for p, g in zip(ps, step_grads):
            p.grad = g.copy()
        opt.step()
        history.append([p.data.copy() for p in ps])
    return history


def _run_torch(torch, make, params, grads):
    ps = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = make(ps)
    history = []
    for step_grads in grads:
        for p, g in zip(ps, step_grads):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        history.append([p.detach().numpy().copy() for p in ps])
    return history


# (minidl class, torch class name, keyword arguments shared by both)
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, maximize=True)),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_update_rules_match_torch_step_by_step(torch, name, kwargs):
    params, grads = _problem()
    ours = _run_minidl(lambda ps: getattr(optim, name)(ps, **kwargs), params, grads)
    theirs = _run_torch(torch, lambda ps: getattr(torch.optim, name)(ps, foreach=False, **kwargs),
                        params, grads)
    for step, (mine, ref) in enumerate(zip(ours, theirs)):
        for a, b in zip(mine, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")
    assert not np.allclose(ours[-1][0], params[0])  # the parameters did move


def test_param_groups_with_their_own_settings_match_torch(torch):
    params, grads = _problem(1)

    def groups(ps):
        return [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.5, "momentum": 0.0}]

    ours = _run_minidl(lambda ps: optim.SGD(groups(ps), lr=0.1, momentum=0.9), params, grads)
    theirs = _run_torch(torch, lambda ps: torch.optim.SGD(groups(ps), lr=0.1, momentum=0.9),
                        params, grads)
    for mine, ref in zip(ours, theirs):
        for a, b in zip(mine, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- NumPy references
def _sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                   maximize=False):
    p, buf, out = p.copy(), None, []
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        out.append(p)
    return out


def _adam_reference(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    amsgrad=False, decoupled=False):
    b1, b2 = betas
    p, m, v, vmax, out = p.copy(), 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        vmax = np.maximum(vmax, v)
        vhat = (vmax if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(vhat) + eps)
        out.append(p)
    return out


def _rmsprop_reference(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                       centered=False):
    p, s, a, b, out = p.copy(), 0.0, 0.0, 0.0, []
    for g in grads:
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g ** 2
        a = alpha * a + (1 - alpha) * g
        d = np.sqrt(s - a ** 2 if centered else s) + eps
        if momentum:
            b = momentum * b + g / d
            p = p - lr * b
        else:
            p = p - lr * g / d
        out.append(p)
    return out


REFERENCE_CASES = [
    (optim.SGD, _sgd_reference, dict(lr=0.1)),
    (optim.SGD, _sgd_reference, dict(lr=0.1, momentum=0.9, dampening=0.5)),
    (optim.SGD, _sgd_reference, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (optim.SGD, _sgd_reference, dict(lr=0.1, momentum=0.9, maximize=True)),
    (optim.Adam, _adam_reference, dict(lr=0.1, betas=(0.8, 0.9))),
    (optim.Adam, _adam_reference, dict(lr=0.1, weight_decay=0.5, amsgrad=True)),
    (optim.AdamW, lambda p, g, **kw: _adam_reference(p, g, decoupled=True, **kw),
     dict(lr=0.1, weight_decay=0.5)),
    (optim.RMSprop, _rmsprop_reference, dict(lr=0.1)),
    (optim.RMSprop, _rmsprop_reference, dict(lr=0.1, alpha=0.5, momentum=0.9, weight_decay=0.2)),
    (optim.RMSprop, _rmsprop_reference, dict(lr=0.1, alpha=0.5, centered=True)),
]


@pytest.mark.parametrize("cls,reference,kwargs", REFERENCE_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(REFERENCE_CASES)])
def test_two_steps_against_the_docstring_formula(cls, reference, kwargs):
    p0 = np.array([0.5, -1.0, 2.0])
    grads = [np.array([0.3, -0.2, 1.0]), np.array([-0.1, 0.4, 0.7])]
    ours = _run_minidl(lambda ps: cls(ps, **kwargs), [p0], [[g] for g in grads])
    expected = reference(p0, grads, **kwargs)
    for step in range(2):
        np.testing.assert_allclose(ours[step][0], expected[step], rtol=1e-13,
                                   err_msg=f"step {step}")


def test_step_skips_parameters_without_gradient_and_checks_shapes():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert b not in opt.state
    np.testing.assert_allclose(a.data, [0.9, 1.1])  # Adam's first step moves by lr * sign(g)
    b.grad = np.ones(2)
    with pytest.raises(RuntimeError, match=r"gradient of shape \(2,\) for a parameter of shape \(3,\)"):
        opt.step()


def test_optimizer_argument_errors():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="require grad"):
        optim.SGD([minidl.tensor([1.0])], lr=0.1)


# ----------------------------------------------------------------------------- schedulers
def _lr_sequences(torch, make_ours, make_theirs, opt_name="SGD", opt_kwargs=None, steps=40):
    """(lr, momentum-or-beta1) after construction and after each step, for both frameworks."""
    opt_kwargs = opt_kwargs or dict(lr=0.1, momentum=0.9)
    ours_opt = getattr(optim, opt_name)([nn.Parameter(np.zeros(1))], **opt_kwargs)
    theirs_opt = getattr(torch.optim, opt_name)([torch.zeros(1, requires_grad=True)], **opt_kwargs)
    ours, theirs = make_ours(ours_opt), make_theirs(theirs_opt)

    def snapshot(opt):
        group = opt.param_groups[0]
        return group["lr"], group["betas"][0] if "betas" in group else group.get("momentum")

    seq_ours, seq_theirs = [snapshot(ours_opt)], [snapshot(theirs_opt)]
    for _ in range(steps):
        ours_opt.step()
        theirs_opt.step()
        ours.step()
        theirs.step()
        seq_ours.append(snapshot(ours_opt))
        seq_theirs.append(snapshot(theirs_opt))
        assert ours.get_last_lr() == [seq_ours[-1][0]]
    return np.array(seq_ours, dtype=float), np.array(seq_theirs, dtype=float)


def test_step_lr_matches_torch(torch):
    ours, theirs = _lr_sequences(torch, lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
                                 lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.5))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ours[0, 0] == 0.1 and ours[3, 0] == 0.05 and ours[-1, 0] == pytest.approx(0.1 * 0.5 ** 13)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_annealing_matches_torch_past_t_max(torch, eta_min):
    ours, theirs = _lr_sequences(
        torch, lambda o: optim.CosineAnnealingLR(o, T_max=10, eta_min=eta_min),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=eta_min),
        steps=35)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(ours[10, 0], eta_min, atol=1e-15)


ONE_CYCLE = [
    dict(anneal_strategy="cos"),
    dict(anneal_strategy="linear"),
    dict(anneal_strategy="cos", three_phase=True),
    dict(anneal_strategy="linear", three_phase=True, pct_start=0.25, div_factor=10.0,
         final_div_factor=100.0),
    dict(anneal_strategy="cos", cycle_momentum=False),
    dict(anneal_strategy="cos", base_momentum=0.8, max_momentum=0.9),
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE, ids=[str(i) for i in range(len(ONE_CYCLE))])
@pytest.mark.parametrize("opt_name,opt_kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                                 ("Adam", dict(lr=0.1, betas=(0.9, 0.999)))])
def test_one_cycle_matches_torch_rates_and_momentum(torch, kwargs, opt_name, opt_kwargs):
    total = 60
    ours, theirs = _lr_sequences(
        torch, lambda o: optim.OneCycleLR(o, max_lr=0.5, total_steps=total, **kwargs),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=total, **kwargs),
        opt_name, opt_kwargs, steps=total - 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert np.isclose(ours[:, 0].max(), 0.5)
    if kwargs.get("cycle_momentum", True):
        assert np.ptp(ours[:, 1]) > 0.05  # momentum (or beta1) really cycles


def test_one_cycle_by_epochs_and_step_limit():
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    sched = optim.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5)
    assert sched.total_steps == 10
    np.testing.assert_allclose(opt.param_groups[0]["lr"], 1.0 / 25)
    for _ in range(10):
        sched.step()
    with pytest.raises(ValueError, match="more than total_steps"):
        sched.step()


# ----------------------------------------------------------------------------- state dicts
OPTIMIZER_AND_SCHEDULE = [
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
     lambda o: optim.StepLR(o, step_size=2, gamma=0.7)),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
     lambda o: optim.OneCycleLR(o, max_lr=0.3, total_steps=12)),
    (lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=1e-2),
     lambda o: optim.OneCycleLR(o, max_lr=0.05, total_steps=12, three_phase=True)),
    (lambda ps: optim.AdamW(ps, lr=0.01), lambda o: optim.CosineAnnealingLR(o, T_max=7)),
    (lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True), None),
]


def _setup(make_opt, make_sched, seed):
    minidl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    opt = make_opt(model.parameters())
    return model, opt, make_sched(opt) if make_sched else None


def _train(model, opt, sched, start, stop):
    rng = np.random.default_rng(1234)
    data = [(rng.standard_normal((8, 3)), rng.standard_normal((8, 1))) for _ in range(12)]
    for x, y in data[start:stop]:
        loss = F.mse_loss(model(minidl.tensor(x)), minidl.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()


def _params(model):
    return [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("make_opt,make_sched", OPTIMIZER_AND_SCHEDULE,
                         ids=["sgd-step", "sgd-onecycle", "adam-onecycle3", "adamw-cos", "rmsprop"])
def test_resuming_from_state_dicts_is_exact(make_opt, make_sched):
    model, opt, sched = _setup(make_opt, make_sched, seed=0)
    _train(model, opt, sched, 0, 12)
    uninterrupted = _params(model)

    model, opt, sched = _setup(make_opt, make_sched, seed=0)
    _train(model, opt, sched, 0, 5)
    checkpoint = copy.deepcopy({"model": model.state_dict(), "opt": opt.state_dict(),
                                "sched": sched.state_dict() if sched else None})
    _train(model, opt, sched, 5, 12)  # the live run goes on; the checkpoint must not change
    for a, b in zip(_params(model), uninterrupted):
        np.testing.assert_array_equal(a, b)

    for _ in range(2):  # resume twice from the same checkpoint: it is not consumed or aliased
        model, opt, sched = _setup(make_opt, make_sched, seed=77)
        model.load_state_dict(checkpoint["model"])
        opt.load_state_dict(checkpoint["opt"])
        if sched is not None:
            sched.load_state_dict(checkpoint["sched"])
        _train(model, opt, sched, 5, 12)
        for a, b in zip(_params(model), uninterrupted):
            np.testing.assert_array_equal(a, b)


def test_optimizer_state_dict_layout():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(3)
    opt.step()
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in state["param_groups"]] == [0.1, 0.5]
    assert state["state"][1]["step"] == 1 and state["state"][1]["exp_avg"].shape == (3,)
    other = optim.Adam([nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="does not match"):
        other.load_state_dict(state)


# ----------------------------------------------------------------------------- XOR
def _load_example():
    path = REPO_ROOT / "examples" / "xor_mlp.py"
    spec = importlib.util.spec_from_file_location("xor_mlp_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


XOR = _load_example()
XOR_OPTIMIZERS = {
    "sgd": lambda params: optim.SGD(params, lr=1.0),
    "sgd_momentum": lambda params: optim.SGD(params, lr=0.5, momentum=0.9),
    "adam": lambda params: optim.Adam(params, lr=0.05),
    "adamw": lambda params: optim.AdamW(params, lr=0.05),
    "rmsprop": lambda params: optim.RMSprop(params, lr=0.02),
}


@pytest.mark.parametrize("name", sorted(XOR_OPTIMIZERS))
def test_mlp_solves_xor_with_every_optimizer(monkeypatch, name):
    monkeypatch.setitem(XOR.OPTIMIZERS, name, XOR_OPTIMIZERS[name])
    for seed in (0, 1, 2):
        model, losses = XOR.train_xor(name, epochs=300, seed=seed)
        np.testing.assert_array_equal(XOR.predict(model), XOR.LABELS, err_msg=f"seed {seed}")
        assert losses[-1] < 0.05 and losses[-1] < losses[0] / 10
