"""XOR: the problem a single perceptron cannot solve, solved by a two-layer MLP.

No line separates {(0,1), (1,0)} from {(0,0), (1,1)}, so a perceptron (one linear layer
and a threshold) fails. One hidden layer of tanh units bends the plane: the hidden units
compute features such as "x1 OR x2" and "x1 AND x2", and the output separates those.

Run:  python examples/xor_mlp.py [--optimizer sgd|adam|adamw|rmsprop] [--epochs N]
"""
from __future__ import annotations

import argparse

import numpy as np

import minidl
import minidl.functional as F
import minidl.nn as nn

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
LABELS = np.array([0, 1, 1, 0])

OPTIMIZERS = {
    "sgd": lambda params: minidl.optim.SGD(params, lr=0.5, momentum=0.9),
    "adam": lambda params: minidl.optim.Adam(params, lr=0.05),
    "adamw": lambda params: minidl.optim.AdamW(params, lr=0.05),
    "rmsprop": lambda params: minidl.optim.RMSprop(params, lr=0.02),
}


def make_mlp(hidden: int = 8) -> nn.Module:
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2))


def train_xor(optimizer: str = "sgd", epochs: int = 300, seed: int = 0, hidden: int = 8):
    """Train the MLP on the four XOR points; returns the model and the loss per epoch."""
    minidl.manual_seed(seed)
    model = make_mlp(hidden)
    opt = OPTIMIZERS[optimizer](model.parameters())
    x, y = minidl.tensor(INPUTS), minidl.tensor(LABELS)
    losses = []
    for _ in range(epochs):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def predict(model: nn.Module) -> np.ndarray:
    with minidl.no_grad():
        return model(minidl.tensor(INPUTS)).numpy().argmax(axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model, losses = train_xor(args.optimizer, args.epochs, args.seed)
    print(f"XOR with a 2-8-2 tanh MLP, {args.optimizer}, {args.epochs} epochs")
    print("loss curve:")
    for epoch in sorted({0, 9, 29, 59, 99, 199, args.epochs - 1}):
        if epoch < len(losses):
            print(f"  epoch {epoch + 1:4d}  loss {losses[epoch]:.5f}")
    predictions = predict(model)
    print("decision table:")
    print("  x1 x2 | target predicted")
    for (x1, x2), target, pred in zip(INPUTS.astype(int), LABELS, predictions):
        print(f"   {x1}  {x2} |   {target}      {pred}")
    accuracy = (predictions == LABELS).mean()
    print(f"accuracy: {accuracy:.0%}")
    return 0 if accuracy == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
