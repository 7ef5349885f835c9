"""Time DAPPER on the Lorenz-96 `sakov2008` set-up, side by side with `assim run`.

Run it from a virtual environment OUTSIDE the repository (assim itself never needs Python):

    python3 -m venv /opt/dapper-venv && /opt/dapper-venv/bin/pip install dapper==1.7.1
    /opt/dapper-venv/bin/python benches/dapper_l96.py > dapper_l96.csv

Prints one CSV row per method and seed: rmse.a, spread.a and CPU seconds per 1001 cycles
(process time of `assimilate`, i.e. forecasts, analyses and DAPPER's own statistics).
"""

import time

import dapper as dpr
import dapper.da_methods as da
from dapper.mods.Lorenz96.sakov2008 import HMM

HMM.tseq.Ko = 2000
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
    da.LETKF(N=40, loc_rad=4, infl=1.02, rot=True),
    da.LETKF(N=7, loc_rad=4, infl=1.04, rot=True),
]

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
