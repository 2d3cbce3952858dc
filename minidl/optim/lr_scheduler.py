"""Learning-rate schedules. Call ``scheduler.step()`` once per epoch (OneCycleLR: per batch).

Each schedule is a closed-form function of the step count, so resuming from a state dict
gives exactly the same rates.
"""
from __future__ import annotations

import math


class LRScheduler:
    """Sets ``group["lr"]`` of every parameter group from ``lr_at(step)``."""

    def __init__(self, optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, step: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, step):
        return base_lr * self.gamma ** (step // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (SGDR, no restarts)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if T_max < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, step):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2


class OneCycleLR(LRScheduler):
    """Smith's 1cycle policy, stepped once per batch, as in PyTorch.

    The rate rises from max_lr/div_factor to max_lr over the first pct_start of the steps,
    then anneals to max_lr/(div_factor*final_div_factor); momentum (or Adam's beta1) moves
    the opposite way between max_momentum and base_momentum. ``three_phase`` comes back
    down to the initial rate before the final annealing.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float = 0.85, max_momentum: float = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps < 2 or not 0 < pct_start < 1:
            raise ValueError(f"OneCycleLR needs total_steps >= 2 and 0 < pct_start < 1, got "
                             f"{total_steps} and {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps = total_steps
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = cycle_momentum
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        for group, peak in zip(groups, max_lrs):
            if last_epoch == -1:
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.phases = self._phases(pct_start, three_phase)
        if cycle_momentum:
            self._use_beta1 = "betas" in groups[0]
            if not self._use_beta1 and "momentum" not in groups[0]:
                raise ValueError("cycle_momentum needs an optimizer with momentum or betas")
            for group in groups:
                group["base_momentum"], group["max_momentum"] = base_momentum, max_momentum
        super().__init__(optimizer, last_epoch)

    def _phases(self, pct_start, three_phase):
        """(end step, start lr key, end lr key, start momentum key, end momentum key)."""
        n = self.total_steps
        if three_phase:
            return [(pct_start * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (2 * pct_start * n - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                    (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [(pct_start * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return start + (end - start) * pct

    def _set_momentum(self, group, momentum):
        """SGD's momentum, or Adam's beta1."""
        if self._use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def step(self) -> None:
        self.last_epoch += 1
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {step} times, more than total_steps="
                             f"{self.total_steps}")
        for group in self.optimizer.param_groups:
            start_step = 0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
                if step <= end_step or i == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    group["lr"] = self._anneal(group[lr0], group[lr1], pct)
                    if self.cycle_momentum:  # without it the momentum keys do not exist
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start_step = end_step
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
