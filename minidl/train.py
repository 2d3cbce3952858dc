"""The training loop: ``fit`` a classifier, ``evaluate`` it, checkpoint it and resume exactly.

    history = fit(model, optimizer, train_loader, epochs=10, val_loader=val_loader,
                  scheduler=scheduler, out="runs/lenet5")

With ``out``, every epoch writes into that folder

* ``metrics.jsonl``: one JSON object per epoch: ``epoch``, ``train_loss`` and ``train_acc``
  (on the training batches as they went by), ``val_loss`` and ``val_acc``, ``lr`` (the
  learning rate the epoch started with) and ``seconds`` (validation included);
* ``curve.png``: loss and accuracy against the epoch;
* ``checkpoint.ckpt`` (``minidl.checkpoint`` format, written atomically): model, optimizer
  and scheduler state, the epoch, the random state and the training loader's state.

``fit(..., resume=True)`` continues from that checkpoint. Everything random in a run is a
function of those saved states (dropout masks come from ``minidl.backend``'s counter,
shuffling and augmentation from the loader's seed and epoch), so a run interrupted after
epoch k and resumed ends with the same weights, bit for bit, as one that ran straight through.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from . import backend, checkpoint
from . import functional as F
from .autograd import no_grad
from .optim import OneCycleLR

CHECKPOINT = "checkpoint.ckpt"
METRICS = "metrics.jsonl"
CURVE = "curve.png"


# ----------------------------------------------------------------------------- evaluation
def evaluate(model, loader, loss_fn=F.cross_entropy, progress: bool = False) -> dict:
    """Run ``model`` in eval mode over ``loader``'s (images, labels) batches.

    Returns a dict with ``loss`` (mean over samples), ``accuracy`` (fraction correct),
    ``per_class_accuracy`` (one entry per class, NaN for a class with no samples) and
    ``confusion`` (int64, rows: true class, columns: predicted class; the number of classes
    is the model's number of outputs).
    """
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    total_loss, true, predicted = 0.0, [], []
    try:
        with no_grad():
            for images, labels in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
                logits = model(images)
                total_loss += loss_fn(logits, labels).item() * len(labels)
                predicted.append(backend.to_numpy(logits.data.argmax(axis=1)))
                true.append(backend.to_numpy(labels.data))
    finally:
        model.train(was_training)
    if not true:
        raise ValueError("evaluate: the loader gave no batches")
    num_classes = logits.shape[1]
    true, predicted = np.concatenate(true), np.concatenate(predicted)
    confusion = np.bincount(true * num_classes + predicted, minlength=num_classes**2)
    confusion = confusion.reshape(num_classes, num_classes).astype(np.int64)
    support = confusion.sum(axis=1)
    per_class = np.full(num_classes, np.nan)
    np.divide(np.diag(confusion), support, out=per_class, where=support > 0)
    return {"loss": total_loss / len(true), "accuracy": float(np.trace(confusion)) / len(true),
            "per_class_accuracy": per_class, "confusion": confusion}


# ----------------------------------------------------------------------------- training
def train_one_epoch(model, optimizer, loader, loss_fn=F.cross_entropy, batch_scheduler=None,
                    progress: bool = False, desc: str = "train") -> dict:
    """One pass over ``loader`` in train mode; step ``batch_scheduler`` after every batch.

    Returns the mean loss and the accuracy on the training batches as they were seen
    (with dropout and augmentation, the weights changing as it goes): cheap, and what
    the progress bar shows.
    """
    from tqdm import tqdm

    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    with tqdm(loader, desc=desc, leave=False, disable=not progress) as bar:
        for images, labels in bar:
            logits = model(images)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if batch_scheduler is not None:
                batch_scheduler.step()
            total_loss += loss.item() * len(labels)
            correct += int((logits.data.argmax(axis=1) == labels.data).sum())
            seen += len(labels)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
    return {"train_loss": total_loss / seen, "train_acc": correct / seen}


def fit(model, optimizer, train_loader, epochs: int, val_loader=None, scheduler=None, out=None,
        resume: bool = False, loss_fn=F.cross_entropy, meta=None, progress: bool = True,
        log=print) -> list:
    """Train for ``epochs`` epochs in all (counting those a resumed checkpoint already did).

    Args:
        model, optimizer: what to train and how.
        train_loader: a ``minidl.data.DataLoader`` of (images, labels) batches.
        epochs: the total number of epochs.
        val_loader: evaluated after every epoch (``val_loss``, ``val_acc``), if given.
        scheduler: a learning-rate schedule, stepped after every epoch, or after every batch
            for ``OneCycleLR`` (which is defined per batch).
        out: the run folder for metrics.jsonl, curve.png and checkpoint.ckpt (None: none).
        resume: continue from ``out``'s checkpoint when there is one.
        loss_fn: ``loss_fn(logits, labels)``, a scalar tensor.
        meta: plain values stored in the checkpoint under "meta" (e.g. how to rebuild the
            model).
        progress: show a tqdm progress bar per epoch.
        log: called with one line of text per epoch (``print``; None for silence).

    Returns the history: one dict of metrics per epoch, as in metrics.jsonl.
    """
    if resume and out is None:
        raise ValueError("fit: resume=True needs the run folder (out=) holding the checkpoint")
    log = log or (lambda line: None)
    batch_scheduler = scheduler if isinstance(scheduler, OneCycleLR) else None
    history = []
    if out is not None:
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, CHECKPOINT)
        if resume and os.path.exists(path):
            history = _restore(checkpoint.load(path), model, optimizer, scheduler, train_loader)
            log(f"resumed from {path} after epoch {len(history)}")
        elif resume:
            log(f"no checkpoint in {out}: starting from scratch")
    for epoch in range(len(history), epochs):
        start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        row = {"epoch": epoch + 1, **train_one_epoch(model, optimizer, train_loader, loss_fn,
                                                     batch_scheduler, progress,
                                                     desc=f"epoch {epoch + 1}/{epochs}")}
        if scheduler is not None and batch_scheduler is None:
            scheduler.step()
        if val_loader is not None:
            result = evaluate(model, val_loader, loss_fn)
            row.update(val_loss=result["loss"], val_acc=result["accuracy"])
        row.update(lr=lr, seconds=time.perf_counter() - start)
        history.append(row)
        log(format_row(row, epochs))
        if out is not None:
            _save_run(out, history, model, optimizer, scheduler, train_loader, meta)
    return history


def format_row(row: dict, epochs: int) -> str:
    """One line for the log: ``epoch 3/10  train loss 0.1234 acc 96.10%  val ...``."""
    line = f"epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}"
    if "val_loss" in row:
        line += f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.2%}"
    return line + f"  lr {row['lr']:.3g}  {row['seconds']:.1f} s"


# ----------------------------------------------------------------------------- run folder
def _save_run(out, history, model, optimizer, scheduler, loader, meta) -> None:
    """Write metrics.jsonl, curve.png and the checkpoint of the epoch just finished."""
    _write_text(os.path.join(out, METRICS), "".join(json.dumps(row) + "\n" for row in history))
    plot_history(history, os.path.join(out, CURVE))
    state = {"epoch": len(history), "model": model.state_dict(),
             "optimizer": optimizer.state_dict(),
             "scheduler": None if scheduler is None else scheduler.state_dict(),
             "rng": backend.get_rng_state(), "loader": loader.state_dict(),
             "history": history, "meta": meta or {}}
    checkpoint.save(state, os.path.join(out, CHECKPOINT))


def _restore(state, model, optimizer, scheduler, loader) -> list:
    """Load a checkpoint's states into the objects; return its history."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if (scheduler is None) != (state["scheduler"] is None):
        raise ValueError("the checkpoint was trained with" + ("out" if scheduler else "")
                         + " a learning-rate scheduler; resume it the same way")
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    loader.load_state_dict(state["loader"])
    backend.set_rng_state(state["rng"])
    return list(state["history"])


def _write_text(path: str, text: str) -> None:
    """Replace the file's content atomically."""
    with checkpoint.atomic_open(path, "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------- figures
def plot_history(history: list, path: str) -> None:
    """Save loss and accuracy against the epoch, training and validation, as a PNG."""
    from matplotlib.figure import Figure  # the object API: no pyplot, no global backend

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for split, label in (("train", "training batches"), ("val", "validation")):
        if f"{split}_loss" in history[0]:
            loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], "o-", label=label)
            acc_ax.plot(epochs, [100 * row[f"{split}_acc"] for row in history], "o-", label=label)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=100)


def plot_confusion(confusion: np.ndarray, classes, path: str, title: str = "confusion matrix") -> None:
    """Save a confusion matrix (rows: true class, columns: predicted) as a PNG, counts in cells."""
    from matplotlib.figure import Figure

    k = len(confusion)
    size = max(4.0, 0.45 * k + 2)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(classes, rotation=90)
    ax.set_yticklabels(classes)
    if k <= 20:
        threshold = confusion.max() / 2
        for (i, j), count in np.ndenumerate(confusion):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > threshold else "black")
    fig.savefig(path, dpi=100)
