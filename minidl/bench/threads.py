"""How the Numba threading layer and OpenMP's waiting policy affect a conv layer, whose
forward and backward alternate parallel Numba kernels (im2col, col2im) with OpenBLAS GEMMs.

``python -m minidl.bench.threads`` prints the median time of one ResNet-18-for-CIFAR conv
layer (forward + backward, numba kernels) in the configuration given by the environment
(NUMBA_THREADING_LAYER, OMP_WAIT_POLICY); ``measure_all`` runs it in a fresh process for
each configuration.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

CONFIGURATIONS = [
    ("omp", "active"),
    ("omp", "passive"),
    ("workqueue", "passive"),
]


def measure_all():
    """{(layer, waiting policy): (milliseconds, layer actually used)} for each configuration."""
    results = {}
    for layer, policy in CONFIGURATIONS:
        env = dict(os.environ, NUMBA_THREADING_LAYER=layer, OMP_WAIT_POLICY=policy)
        run = subprocess.run([sys.executable, "-m", "minidl.bench.threads"], env=env,
                             capture_output=True, text=True, timeout=600)
        if run.returncode == 0:
            data = json.loads(run.stdout.strip().splitlines()[-1])
            results[(layer, policy)] = (data["ms"], data["layer"])
    return results


def _measure_here():
    import numba

    from . import alternate, cases, workloads
    case = next(c for c in cases.CIFAR_CONV if c.layer == "layer1")
    fn = workloads.minidl_workload(case, "numba", backward=True)
    seconds = alternate({"numba": fn}, budget=4.0, min_repeats=5)["numba"]
    return {"ms": seconds * 1e3, "layer": numba.threading_layer()}


if __name__ == "__main__":
    print(json.dumps(_measure_here()))
