"""Write a full DAPPER ETKF run on Lorenz-63 `sakov2012` (Ko = 2000, N = 10, infl = 1.02, no
rotation) for `cargo run --release -p assim-core --example replay_dapper_l63 FILE`, which
replays the same truth, observations and initial ensemble in assim (docs/validation.md).

    /opt/dapper-venv/bin/python benches/dapper_l63_replay.py SEED [PERTURBATION] > FILE

PERTURBATION (default 0) multiplies the initial ensemble by 1 + PERTURBATION, to measure how
much the time mean moves under rounding-level changes. DAPPER's own time-mean rmse.a goes to
stderr.
"""

import sys

import numpy as np

import dapper as dpr
from dapper.da_methods.ensemble import EnKF_analysis, post_process
from dapper.mods.Lorenz63.sakov2012 import HMM

HMM.tseq.Ko = 2000
dpr.set_seed(int(sys.argv[1]))
xx, yy = HMM.simulate()
N = 10
E = HMM.X0.sample(N) * (1 + float(sys.argv[2] if len(sys.argv) > 2 else 0))
row = lambda kind, i, v: print(f"{kind},{i}," + ",".join(repr(float(z)) for z in v))
for n in range(N):
    row("e0", n, E[n])
for ko, y in enumerate(yy):
    row("y", ko, y)
errs = []
for k, ko, t, dt in HMM.tseq.ticker:
    E = HMM.Dyn(E, t - dt, dt)
    if ko is not None:
        Obs = HMM.Obs(ko)
        E = EnKF_analysis(E, Obs(E), Obs.noise, yy[ko], "Sqrt")
        E = post_process(E, 1.02, False)
        row("x", ko, xx[k])
        if t > HMM.tseq.BurnIn:
            errs.append(np.sqrt(np.mean((E.mean(0) - xx[k]) ** 2)))
print("dapper rmse.a", np.mean(errs), file=sys.stderr)
