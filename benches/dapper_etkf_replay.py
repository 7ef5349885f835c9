"""DAPPER's own deterministic ETKF on Lorenz-63 `sakov2012` (N = 10, infl = 1.02, no
rotation), written out so that assim can replay the identical inputs.

    /opt/dapper-venv/bin/python benches/dapper_etkf_replay.py SEED KO [PERTURBATION] > FILE

Rows: `e0` (initial members), `y` (observations), then per analysis `x` (truth) and `mean_a`
(DAPPER's analysis mean). PERTURBATION (default 0) multiplies the initial ensemble by
1 + PERTURBATION. DAPPER's time-mean rmse.a after the burn-in goes to stderr.

- The test fixture: `benches/dapper_etkf_replay.py 7 39 > crates/assim-core/tests/fixtures/dapper_l63_etkf.csv`
  (checked by `crates/assim-core/tests/dapper_fixture.rs`).
- Long replays: `benches/dapper_etkf_replay.py 3000 2000 > /tmp/r.csv`, then
  `ASSIM_DAPPER_REPLAY=/tmp/r.csv cargo test --release -p assim-core --test dapper_fixture -- --ignored --nocapture`.
"""

import sys

import numpy as np

import dapper as dpr
from dapper.da_methods.ensemble import EnKF_analysis, post_process
from dapper.mods.Lorenz63.sakov2012 import HMM

seed, ko_last = int(sys.argv[1]), int(sys.argv[2])
perturbation = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
HMM.tseq.Ko = ko_last
dpr.set_seed(seed)
xx, yy = HMM.simulate()
N = 10
E = HMM.X0.sample(N) * (1 + perturbation)


def row(kind, i, v):
    print(f"{kind},{i}," + ",".join(repr(float(z)) for z in v))


print("# kind,index,values...")
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
        row("mean_a", ko, E.mean(0))
        if t > HMM.tseq.BurnIn:
            errs.append(np.sqrt(np.mean((E.mean(0) - xx[k]) ** 2)))
print("dapper rmse.a", np.mean(errs) if errs else float("nan"), file=sys.stderr)
