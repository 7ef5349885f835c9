"""DAPPER side by side with assim: rmse.a, spread.a and CPU time of the reference methods.

Run from a virtual environment OUTSIDE the repository (assim itself never needs Python):

    python3 -m venv /opt/dapper-venv && /opt/dapper-venv/bin/pip install dapper==1.7.1
    /opt/dapper-venv/bin/python benches/dapper_reference.py l96 > dapper_l96.csv
    /opt/dapper-venv/bin/python benches/dapper_reference.py l63 > dapper_l63.csv
    /opt/dapper-venv/bin/python benches/dapper_reference.py l96_dto02 > dapper_l96_dto02.csv

`l96_dto02` is `experiments/l96_bocquet2013.toml` (observations every 4 steps, Ko = 1000).
DAPPER 1.7.1's Var4D raises IndexError at `Y = Obs(ko).linear(x) @ X` (the time-dependent
operator is called twice); in the venv, change that line and the next to `Obs.linear(x)` and
`Obs(x)` before running it (docs/validation.md).

Compare with `assim run experiments/l96_sakov2008.toml` / `l63_sakov2012.toml` (same set-ups,
Ko = 2000, seeds 3000 and 3001). CPU seconds are the process time of `assimilate` (forecasts,
analyses and DAPPER's own statistics), scaled to 1001 cycles.
"""

import sys
import time

import dapper as dpr
import dapper.da_methods as da

if sys.argv[1:] == ["l96"]:
    from dapper.mods.Lorenz96.sakov2008 import HMM

    XPS = [
        da.Climatology(),
        da.OptInterp(),
        da.Var3D(xB=0.02),
        da.ExtKF(infl=10),
        da.EnKF("Sqrt", N=40, infl=1.02, rot=True),
        da.EnKF("Sqrt", N=24, infl=1.013, rot=True),
        da.EnKF("PertObs", N=40, infl=1.06),
        da.EnKF("PertObs", N=28, infl=1.08),
        da.EnKF("DEnKF", N=40, infl=1.01),
        da.EnKF_N(N=24, xN=2, rot=True),
        da.LETKF(N=40, loc_rad=4, infl=1.02, rot=True),
        da.LETKF(N=7, loc_rad=4, infl=1.04, rot=True),
        da.iEnKS("Sqrt", N=20, Lag=1, nIter=10, infl=1.02, rot=True),
    ]
elif sys.argv[1:] == ["l63"]:
    from dapper.mods.Lorenz63.sakov2012 import HMM

    XPS = [
        da.Climatology(),
        da.OptInterp(),
        da.Var3D(xB=0.1),
        da.ExtKF(infl=90),
        da.EnKF("Sqrt", N=10, infl=1.02, rot=True),
        da.EnKF("PertObs", N=100, infl=1.0),
        da.EnKF_N(N=10, rot=True),
        da.iEnKS("Sqrt", N=10, infl=1.02, rot=True),
        da.PartFilt(N=100, reg=2.4, NER=0.3),
        da.PartFilt(N=800, reg=0.9, NER=0.2),
    ]
elif sys.argv[1:] == ["l96_dto02"]:
    from dapper.mods.Lorenz96.sakov2008 import HMM

    HMM.tseq.dko = 4
    XPS = [
        da.Var4D(Lag=1, xB=0.2),
        da.Var4D(Lag=2, xB=0.1),
        da.Var4D(Lag=4, xB=0.02),
        da.iEnKS("Sqrt", N=20, Lag=1, xN=2),
        da.iEnKS("Sqrt", N=20, Lag=4, xN=2),
    ]
else:
    sys.exit("usage: dapper_reference.py l96|l63|l96_dto02")

HMM.tseq.Ko = 1000 if sys.argv[1] == "l96_dto02" else 2000
print("method,seed,rmse_a,spread_a,cpu_s_per_1001_cycles")
for seed in (3000, 3001):
    dpr.set_seed(seed)
    xx, yy = HMM.simulate()
    for xp in XPS:
        t0 = time.process_time()
        xp.assimilate(HMM, xx, yy)
        cpu = time.process_time() - t0
        xp.stats.average_in_time()
        a = xp.avrgs
        print(f'"{xp}",{seed},{a.err.rms.a.val},{a.spread.rms.a.val},{cpu / (HMM.tseq.Ko + 1) * 1001}', flush=True)
