"""Run DAPPER on the Lorenz-63 `sakov2012` set-up with Ko = 2000, side by side with
`assim run experiments/l63_sakov2012.toml` (see docs/validation.md).

From a virtual environment OUTSIDE the repository:

    /opt/dapper-venv/bin/python benches/dapper_l63.py > dapper_l63.csv
"""

import time

import dapper as dpr
import dapper.da_methods as da
from dapper.mods.Lorenz63.sakov2012 import HMM

HMM.tseq.Ko = 2000
XPS = [
    da.Climatology(),
    da.OptInterp(),
    da.Var3D(xB=0.1),
    da.ExtKF(infl=90),
    da.EnKF("Sqrt", N=10, infl=1.02, rot=True),
    da.EnKF("PertObs", N=100, infl=1.0),
    da.PartFilt(N=100, reg=2.4, NER=0.3),
    da.PartFilt(N=800, reg=0.9, NER=0.2),
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
