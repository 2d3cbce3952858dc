"""Adam, AdamW and RMSprop: per-coordinate step sizes from running gradient moments."""
from __future__ import annotations

from .. import backend
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba), as in PyTorch. For step t with gradient g:

        m <- b1 m + (1 - b1) g           v <- b2 v + (1 - b2) g^2
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    The bias corrections undo the zero initialisation of m and v. ``weight_decay`` adds an
    L2 term to g (for decoupled decay use AdamW); ``amsgrad`` uses the running max of v.
    """

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if wd and self.decoupled:
            p *= 1 - lr * wd
        elif wd:
            g = g + wd * p
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        if group["amsgrad"]:
            xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = xp.sqrt(v) / (1 - b2 ** t) ** 0.5 + eps
        p -= (lr / (1 - b1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p <- p (1 - lr wd) before the
    Adam step, instead of adding wd p to the gradient."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class RMSprop(Optimizer):
    """RMSprop (Hinton), as in PyTorch:

        s <- alpha s + (1 - alpha) g^2           (centered: also a <- alpha a + (1 - alpha) g)
        d  = sqrt(s) + eps                       (centered: sqrt(s - a^2) + eps)
        p <- p - lr g / d                        (momentum: b <- mu b + g / d; p <- p - lr b)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0 or not 0 <= alpha <= 1:
            raise ValueError(f"invalid RMSprop settings: lr={lr}, alpha={alpha}, eps={eps}, "
                             f"weight_decay={weight_decay}, momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        alpha, eps = group["alpha"], group["eps"]
        if group["maximize"]:
            g = -g
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            if group["momentum"]:
                state["momentum_buffer"] = xp.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"]
            a *= alpha
            a += (1 - alpha) * g
            denom = xp.sqrt(s - a * a) + eps
        else:
            denom = xp.sqrt(s) + eps
        if group["momentum"]:
            b = state["momentum_buffer"]
            b *= group["momentum"]
            b += g / denom
            p -= group["lr"] * b
        else:
            p -= group["lr"] * g / denom
