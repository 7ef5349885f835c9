"""Write the DAPPER fixture of `crates/assim-core/tests/dapper_fixture.rs`.

DAPPER 1.7.1 (venv outside the repo) runs its own deterministic ETKF (`EnKF_analysis` with
'Sqrt', then `post_process` with infl = 1.02, rot = False) and PertObs-free pieces on Lorenz-63
`sakov2012`, from a given initial ensemble, for 40 cycles; the fixture records the initial
ensemble, the observations, and DAPPER's analysis ensemble mean after every cycle, so that
assim can replay the same inputs and compare member for member (no random numbers involved).

    /opt/dapper-venv/bin/python benches/dapper_fixture_l63_etkf.py \
        | grep -E "^(#|e0,|y,|mean_a,)" > crates/assim-core/tests/fixtures/dapper_l63_etkf.csv
"""

import numpy as np

import dapper as dpr
from dapper.da_methods.ensemble import EnKF_analysis, post_process
from dapper.mods.Lorenz63.sakov2012 import HMM

HMM.tseq.Ko = 39
dpr.set_seed(7)
xx, yy = HMM.simulate()
N = 10
E = HMM.X0.sample(N)
print("# kind,index,values...")
for n in range(N):
    print("e0," + str(n) + "," + ",".join(repr(float(v)) for v in E[n]))
for ko, y in enumerate(yy):
    print("y," + str(ko) + "," + ",".join(repr(float(v)) for v in y))
for k, ko, t, dt in HMM.tseq.ticker:
    E = HMM.Dyn(E, t - dt, dt)
    if ko is not None:
        Obs = HMM.Obs(ko)
        E = EnKF_analysis(E, Obs(E), Obs.noise, yy[ko], "Sqrt")
        E = post_process(E, 1.02, False)
        print("mean_a," + str(ko) + "," + ",".join(repr(float(v)) for v in E.mean(0)))
