"""The simplex equiangular tight frame of neural collapse (Papyan, Han & Donoho, "Prevalence
of neural collapse during the terminal phase of deep learning training", PNAS 2020, Def. 1):

    M* = sqrt(C / (C - 1)) (I - 1 1^T / C)           (C x C; its columns m_1..m_C)

By hand: M*^T M* = C/(C-1) (I - 1 1^T / C), because I - 1 1^T / C is a projection (it is
symmetric and squares to itself). Its diagonal is C/(C-1) (1 - 1/C) = 1, so the columns have
equal (unit) norm, and its off-diagonal is C/(C-1) (-1/C) = -1/(C-1), the pairwise cosine.
The columns sum to zero, and -1/(C-1) is the most negative common cosine C unit vectors can
have: 0 <= |sum_k m_k|^2 = C + C (C - 1) cos. Any partial orthogonal U (U^T U = I) keeps all
of this: U M* is a simplex ETF in a larger space.

Checked exactly with fractions, and with minidl tensors to float64 rounding; then C unit
vectors pushed apart by gradient descent on minidl's autograd (soft maximum of the pairwise
cosines) end up at the simplex cosines, to the optimiser's tolerance.

Run:  python examples/simplex_etf.py
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

import minidl

CLASSES = 4
TOLERANCE = dict(rtol=1e-14, atol=1e-15)


def gram_by_hand(c):
    """M*^T M* = C/(C-1) (I - 1 1^T / C), exactly, as fractions."""
    scale = Fraction(c, c - 1)
    return [[scale * ((1 if i == j else 0) - Fraction(1, c)) for j in range(c)] for i in range(c)]


def etf_with_minidl(c):
    """M* from minidl tensor ops."""
    centring = minidl.eye(c, dtype=minidl.float64) - minidl.ones((c, c), dtype=minidl.float64) / c
    return centring * np.sqrt(c / (c - 1))


def cosines(m):
    """Pairwise cosines of the columns of a (d, C) tensor, and the column norms."""
    norms = (m * m).sum(axis=0).sqrt()
    unit = m / norms
    return unit.T @ unit, norms


def check_exact(c):
    """M*^T M* as fractions: unit norms and cosines -1/(C-1); returns it as floats."""
    gram = gram_by_hand(c)
    print(f"C = {c}: M*^T M* by hand, as fractions:")
    for row in gram:
        print("   " + " ".join(f"{str(v):>5}" for v in row))
    np.testing.assert_(all(gram[i][i] == 1 for i in range(c)), "norms")
    np.testing.assert_(all(gram[i][j] == Fraction(-1, c - 1)
                           for i in range(c) for j in range(c) if i != j), "cosines")
    print(f"   unit norms on the diagonal, cosines -1/(C-1) = {Fraction(-1, c - 1)} off it\n")
    return np.array(gram, dtype=np.float64)


def check_minidl(c, gram, rng):
    """The same properties of M* and of U M* computed with minidl tensors."""
    m = etf_with_minidl(c)
    cos, norms = cosines(m)
    np.testing.assert_allclose(norms.numpy(), np.ones(c), **TOLERANCE)
    np.testing.assert_allclose(cos.numpy(), gram, **TOLERANCE)
    np.testing.assert_allclose((m.T @ m).numpy(), gram, **TOLERANCE)
    np.testing.assert_allclose(m.sum(axis=1).numpy(), np.zeros(c), **TOLERANCE)
    print(f"minidl: M* = sqrt(C/(C-1)) (eye - ones/C): norms {np.round(norms.numpy(), 12).tolist()}, "
          f"cosines {cos.numpy()[0, 1]:.15f}, columns sum to 0")
    u, _ = np.linalg.qr(rng.standard_normal((10, c)))          # 10 x C, orthonormal columns
    rotated = minidl.tensor(u) @ m
    cos_rotated, norms_rotated = cosines(rotated)
    np.testing.assert_allclose(norms_rotated.numpy(), np.ones(c), **TOLERANCE)
    np.testing.assert_allclose(cos_rotated.numpy(), gram, **TOLERANCE)
    print("   U M* with a random 10 x C partial orthogonal U: the same norms and cosines\n")


def spread_unit_vectors(c, steps=400, sharpness=8.0, seed=0):
    """C unit vectors in R^(C-1) that minimise log sum_{i != j} exp(sharpness cos_ij), a soft
    maximum of the pairwise cosines, by Adam on minidl's gradients."""
    rng = np.random.default_rng(seed)
    v = minidl.tensor(rng.standard_normal((c - 1, c)), requires_grad=True)
    opt = minidl.optim.Adam([v], lr=0.05)
    off_diagonal = minidl.tensor(1 - np.eye(c))
    for _ in range(steps):
        cos, _ = cosines(v)
        loss = ((cos * sharpness).exp() * off_diagonal).sum().log()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return cosines(v)[0].numpy()


def main():
    """Run the checks and the spreading experiment; 0 on success."""
    gram = check_exact(CLASSES)
    check_minidl(CLASSES, gram, np.random.default_rng(0))
    learned = spread_unit_vectors(CLASSES)
    off = learned[~np.eye(CLASSES, dtype=bool)]
    print(f"{CLASSES} unit vectors in R^{CLASSES - 1} pushed apart by gradient descent: cosines "
          f"{off.min():.5f} .. {off.max():.5f} (simplex: {-1 / (CLASSES - 1):.5f})")
    np.testing.assert_allclose(off, -1 / (CLASSES - 1), atol=1e-3)
    print("   the most spread-out configuration is the simplex ETF")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
