"""Loss functions with PyTorch's signatures and reductions ("mean", "sum", "none")."""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor
from ..autograd.functions import as_tensor, stack, tensor, zeros_like
from ..autograd.ops.reduction import stable_max
from .activation import log_softmax_composed

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _class_coefficients(x, target, weight, ignore_index, label_smoothing):
    """The weights c_nk with which each log-probability log p_nk enters the loss.

    loss_n = -sum_k c_nk log p_nk, where c_nk = (1 - eps) w_{y_n} [k = y_n] + (eps / C) w_k
    (eps = label_smoothing) and c_n = 0 for ignored samples. Returns the coefficients, laid
    out like x (N, C, ...), and the mean's denominator sum_n w_{y_n} over kept samples.
    """
    xp = backend.get_array_module(x)
    n_classes = x.shape[1]
    kept = target != ignore_index
    labels = xp.where(kept, target, 0)
    if bool(((labels < 0) | (labels >= n_classes)).any()):
        bad = int(labels[(labels < 0) | (labels >= n_classes)].ravel()[0])
        raise ValueError(f"target contains class {bad} but the input has {n_classes} classes "
                         f"(valid: 0..{n_classes - 1}, or ignore_index={ignore_index})")
    w = xp.ones(n_classes, x.dtype) if weight is None else weight.astype(x.dtype, copy=False)
    w_shape = [1, n_classes] + [1] * (x.ndim - 2)
    onehot = xp.expand_dims(labels, 1) == xp.arange(n_classes).reshape(w_shape)
    w_target = w[labels] * kept
    coef = (1 - label_smoothing) * onehot * xp.expand_dims(w_target, 1)
    if label_smoothing:
        coef = coef + (label_smoothing / n_classes) * w.reshape(w_shape) * xp.expand_dims(kept, 1)
    return coef.astype(x.dtype, copy=False), w_target.sum()


def _reduce_loss(per_sample, denominator, reduction):
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    return total / denominator if reduction == "mean" else total


def _expand_grad(g, shape, denominator, reduction):
    """dL/d(per-sample loss) as an array of ``shape`` (N, ...) for each reduction."""
    if reduction == "none":
        return g
    scale = g / denominator if reduction == "mean" else g
    return backend.get_array_module(g).broadcast_to(scale, shape)


class CrossEntropyFunction(Function):
    """loss_n = -sum_k c_nk log softmax(x_n)_k (see ``_class_coefficients``).

    With p = softmax(x_n), d(-log p_k)/dx_j = p_j - [j = k], so
    dloss_n/dx_nj = p_j sum_k c_nk - c_nj. Computed from logsumexp, so it never overflows.
    """

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        xp = backend.get_array_module(x)
        shifted = x - stable_max(x, (1,))
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        coef, denominator = _class_coefficients(x, target, weight, ignore_index, label_smoothing)
        per_sample = -(coef * log_p).sum(axis=1)
        ctx.save_for_backward(log_p, coef)
        ctx.reduction = per_sample.shape, denominator, reduction
        return _reduce_loss(per_sample, denominator, reduction)

    @staticmethod
    def backward(ctx, g):
        log_p, coef = ctx.saved_tensors
        shape, denominator, reduction = ctx.reduction
        xp = backend.get_array_module(log_p)
        g = xp.expand_dims(_expand_grad(g, shape, denominator, reduction), 1)
        grad = (xp.exp(log_p) * coef.sum(axis=1, keepdims=True) - coef) * g
        return grad, None, None, None, None, None


class NLLLossFunction(Function):
    """loss_n = -w_{y_n} x_{n, y_n} for log-probabilities x.  dloss_n/dx_nk = -c_nk."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        coef, denominator = _class_coefficients(x, target, weight, ignore_index, 0.0)
        per_sample = -(coef * x).sum(axis=1)
        ctx.save_for_backward(coef)
        ctx.reduction = per_sample.shape, denominator, reduction
        return _reduce_loss(per_sample, denominator, reduction)

    @staticmethod
    def backward(ctx, g):
        (coef,) = ctx.saved_tensors
        shape, denominator, reduction = ctx.reduction
        xp = backend.get_array_module(coef)
        g = xp.expand_dims(_expand_grad(g, shape, denominator, reduction), 1)
        return -coef * g, None, None, None, None


def _check_classification(name, input, target, weight):
    if input.ndim < 2:
        raise ValueError(f"{name}: input must be (N, C) or (N, C, d1, ...), got shape {input.shape}")
    expected = input.shape[:1] + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{name}: target of shape {target.shape} does not match input of shape "
                         f"{input.shape} (expected target shape {expected})")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got {target.dtype}")
    if weight is not None and weight.shape != (input.shape[1],):
        raise ValueError(f"{name}: weight of shape {weight.shape} must have one entry per class "
                         f"({input.shape[1]})")


def _array(value):
    return value.data if isinstance(value, Tensor) else value


def cross_entropy(input, target, weight=None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Softmax cross-entropy of logits ``input`` (N, C, ...) and class indices ``target``.

    ``weight`` rescales each class; ``label_smoothing`` mixes the one-hot target with the
    uniform distribution; "mean" divides by the summed weights of the kept targets, as in
    PyTorch.
    """
    _check_reduction(reduction)
    input, target, weight = as_tensor(input), _array(target), _array(weight)
    target = backend.get_array_module(input.data).asarray(target)
    _check_classification("cross_entropy", input, target, weight)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return CrossEntropyFunction.apply(input, target, weight, ignore_index, reduction, label_smoothing)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, ...) at ``target``."""
    _check_reduction(reduction)
    input, target, weight = as_tensor(input), _array(target), _array(weight)
    target = backend.get_array_module(input.data).asarray(target)
    _check_classification("nll_loss", input, target, weight)
    return NLLLossFunction.apply(input, target, weight, ignore_index, reduction)


def _check_same_shape(name, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{name}: input of shape {input.shape} and target of shape "
                         f"{target.shape} must have the same shape")


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error: (x - t)^2, reduced."""
    _check_reduction(reduction)
    input, target = as_tensor(input), as_tensor(target)
    _check_same_shape("mse_loss", input, target)
    squared = (input - target) ** 2
    if reduction == "none":
        return squared
    return squared.mean() if reduction == "mean" else squared.sum()


class BCEWithLogitsFunction(Function):
    """loss = -w [p t log s(x) + (1 - t) log(1 - s(x))], s the sigmoid, p = pos_weight.

    With log s(x) = -softplus(-x) and log(1 - s(x)) = -softplus(x) this never overflows.
    dloss/dx = w [s(x) (p t + 1 - t) - p t];  dloss/dt = w [p softplus(-x) - softplus(x)].
    """

    @staticmethod
    def forward(ctx, x, t, weight, pos_weight, reduction):
        xp = backend.get_array_module(x)
        softplus_neg = xp.logaddexp(0, -x)  # -log s(x)
        softplus_pos = softplus_neg + x     # -log(1 - s(x))
        p = 1 if pos_weight is None else pos_weight
        w = 1 if weight is None else weight
        per_element = w * (p * t * softplus_neg + (1 - t) * softplus_pos)
        ctx.save_for_backward(x, t, softplus_neg, softplus_pos)
        ctx.weights = p, w
        ctx.reduction = per_element.shape, per_element.size, reduction
        return _reduce_loss(per_element, per_element.size, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, softplus_neg, softplus_pos = ctx.saved_tensors
        (p, w), (shape, count, reduction) = ctx.weights, ctx.reduction
        g = _expand_grad(g, shape, count, reduction)
        needs_x, needs_t = ctx.needs_input_grad[:2]
        s = 0.5 * (1 + backend.get_array_module(x).tanh(0.5 * x))
        gx = g * w * (s * (p * t + 1 - t) - p * t) if needs_x else None
        gt = g * w * (p * softplus_neg - softplus_pos) if needs_t else None
        return gx, gt, None, None, None


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None,
                                     reduction: str = "mean"):
    """Sigmoid + binary cross-entropy in one stable step (PyTorch's signature)."""
    _check_reduction(reduction)
    input = as_tensor(input)
    target = target if hasattr(target, "shape") else as_tensor(target)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    return BCEWithLogitsFunction.apply(input, target, _array(weight), _array(pos_weight), reduction)


# ------------------------------------------------------------- the composed definitions
def cross_entropy_composed(input, target, weight=None, ignore_index: int = -100,
                           reduction: str = "mean", label_smoothing: float = 0.0):
    """cross_entropy composed of differentiable ops: loss_n = -sum_k c_nk log softmax(x_n)_k
    with the constant coefficients c (class weights, label smoothing, ignored targets)."""
    return _nll_composed("cross_entropy", log_softmax_composed(as_tensor(input), 1), target,
                         weight, ignore_index, reduction, label_smoothing)


def nll_loss_composed(input, target, weight=None, ignore_index: int = -100,
                      reduction: str = "mean"):
    """nll_loss composed of differentiable ops: loss_n = -sum_k c_nk x_nk."""
    return _nll_composed("nll_loss", as_tensor(input), target, weight, ignore_index, reduction,
                         0.0)


def _nll_composed(name, log_p, target, weight, ignore_index, reduction, label_smoothing):
    _check_reduction(reduction)
    target = backend.get_array_module(log_p.data).asarray(_array(target))
    _check_classification(name, log_p, target, _array(weight))
    coef, denominator = _class_coefficients(log_p.data, target, _array(weight), ignore_index,
                                            label_smoothing)
    per_sample = -(tensor(coef) * log_p).sum(axis=1)
    return _reduce_loss(per_sample, float(denominator), reduction)


def binary_cross_entropy_with_logits_composed(input, target, weight=None, pos_weight=None,
                                              reduction: str = "mean"):
    """binary_cross_entropy_with_logits composed of differentiable ops:
    w [p t softplus(-x) + (1 - t) softplus(x)] with softplus(z) = log(e^0 + e^z), a logsumexp
    over the pair (0, z): finite for any z, and its gradient is the sigmoid."""
    _check_reduction(reduction)
    x, t = as_tensor(input), as_tensor(target)
    p = 1.0 if pos_weight is None else as_tensor(pos_weight)
    w = 1.0 if weight is None else as_tensor(weight)
    per_element = w * (p * t * _softplus(-x) + (1 - t) * _softplus(x))
    return _reduce_loss(per_element, per_element.numel(), reduction)


def _softplus(z):
    return stack([zeros_like(z), z], axis=0).logsumexp(axis=0)
