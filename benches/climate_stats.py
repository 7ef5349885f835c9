"""Statistics of a stirred-climate store written by `assim simulate` (docs/testbed.md):
stationarity of the energy (means of the two halves of the written period), jet position and
strength, and the decorrelation time of the flow (lag at which the anomaly pattern correlation
of relative vorticity falls below 1/e), hence the number of independent samples.

Usage: python climate_stats.py RUN.zarr   (xarray + zarr in a venv outside the repo)
"""
import sys

import numpy as np
import xarray as xr

ds = xr.open_zarr(sys.argv[1])
days = (ds.diag_time - ds.diag_time[0]) / np.timedelta64(1, "D")
ke = ds.kinetic_energy.values
ape = ds.available_potential_energy.values
spin = float((ds.time[0] - ds.diag_time[0]) / np.timedelta64(1, "D"))
after = days.values >= spin
n = after.sum()
h1, h2 = np.where(after)[0][: n // 2], np.where(after)[0][n // 2:]
for name, x in [("kinetic", ke), ("available potential", ape)]:
    print(f"{name:20s} energy: first half {x[h1].mean():.3e} ± {x[h1].std():.2e}, "
          f"second half {x[h2].mean():.3e} ± {x[h2].std():.2e} m3 s-2")
u = ds.eastward_wind.mean(("time", "lon")).values
lat = ds.lat.values
for hemi, sel in [("north", lat > 0), ("south", lat < 0)]:
    j = np.argmax(np.where(sel, u, -np.inf))
    print(f"{hemi} jet: {u[j]:.1f} m/s at {lat[j]:.1f}°")
print(f"min zonal-mean u: {u.min():.1f} m/s at {lat[np.argmin(u)]:.1f}°")
print(f"max wind speed over the written period: {ds.max_wind_speed.values[after].max():.1f} m/s")
z = ds.relative_vorticity.values.astype(np.float64)
w = np.cos(np.deg2rad(lat))[None, :, None]
a = (z - z.mean(axis=0)) * np.sqrt(w)
a = a.reshape(a.shape[0], -1)
norm = np.sqrt((a * a).sum(axis=1))
corr = [1.0] + [float(np.mean((a[:-k] * a[k:]).sum(axis=1) / (norm[:-k] * norm[k:]))) for k in range(1, 16)]
tau = next((k for k, c in enumerate(corr) if c < np.exp(-1)), None)
print("vorticity anomaly pattern correlation at lags 0..8 days:", " ".join(f"{c:.2f}" for c in corr[:9]))
print(f"decorrelation (1/e) time: {tau} days -> about {z.shape[0] // max(tau, 1)} independent daily samples in {z.shape[0]} snapshots")
