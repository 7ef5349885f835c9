"""Stepping a Lorenz-96 ensemble from Python: assim's `Lorenz96.step` (Rust RK4 through the
pyo3 module) against DAPPER's `Lorenz96.step` (numpy RK4), on the same ensemble, in one
process with both packages installed. Checks that the two agree, then times each.

    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install dapper==1.7.1 python/dist/assim-*.whl
    RAYON_NUM_THREADS=1 /tmp/bench/bin/python benches/python_l96_step.py

Prints the seconds for `steps` RK4 steps of an (N, 40) ensemble, the median of 5 timings, and
the ratio DAPPER / assim.
"""

import statistics
import sys
import time

import numpy as np

import assim
from dapper.mods.Lorenz96 import step as dapper_step

DT = 0.05
STEPS = 1000


def dapper_run(e):
    for k in range(STEPS):
        e = dapper_step(e, k * DT, DT)
    return e


def assim_run(model, e):
    return model.step(e, dt=DT, steps=STEPS)


def median_seconds(f):
    times = []
    for _ in range(5):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


model = assim.Lorenz96(nx=40, forcing=8.0)
rng = np.random.default_rng(0)
print(f"{'N':>4} {'assim s':>9} {'DAPPER s':>9} {'DAPPER/assim':>13} {'max |diff| after 20 steps':>27}")
for n in (1, 20, 100):
    e = 8.0 + rng.standard_normal((n, 40))
    # Agreement first: 20 steps (chaos amplifies rounding over 1000).
    a = model.step(e, dt=DT, steps=20)
    d = e.copy()
    for k in range(20):
        d = dapper_step(d, k * DT, DT)
    diff = float(np.abs(a - d).max())
    if diff > 1e-9:
        sys.exit(f"N = {n}: assim and DAPPER differ by {diff:e} after 20 steps")
    ta = median_seconds(lambda: assim_run(model, e))
    td = median_seconds(lambda: dapper_run(e))
    print(f"{n:>4} {ta:>9.4f} {td:>9.4f} {td / ta:>13.1f} {diff:>27.1e}")
