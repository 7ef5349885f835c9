"""Opens a primitive-equation store of `assim simulate` in xarray (checking the CF names, the
(time, level, lat, lon) layout and the sigma coordinate) and, for a Held-Suarez run, compares its
time- and zonal-mean u, T and eddy variance of T with dinosaur's (benches/dinosaur_pe.py hs ...),
level by level (the same equidistant sigma layers; assim's full levels sit at the
Simmons-Burridge sigma, dinosaur's at the layer centres).

Run in a virtual environment outside the repo (xarray, zarr):
    python benches/pe_compare.py RUN.zarr [DINOSAUR_HS.csv]
"""
import csv
import sys

import numpy as np
import xarray as xr

ds = xr.open_zarr(sys.argv[1])
for name, std, units in [("air_temperature", "air_temperature", "K"), ("eastward_wind", "eastward_wind", "m s-1"),
                         ("northward_wind", "northward_wind", "m s-1")]:
    v = ds[name]
    assert v.dims == ("time", "level", "lat", "lon"), (name, v.dims)
    assert v.attrs["standard_name"] == std and v.attrs["units"] == units, (name, v.attrs)
ps = ds["surface_air_pressure"]
assert ps.dims == ("time", "lat", "lon") and ps.attrs["standard_name"] == "surface_air_pressure"
assert ds["level"].attrs["standard_name"] == "atmosphere_sigma_coordinate"
print(f"xarray opens {sys.argv[1]}: {dict(ds.sizes)}, level = {np.round(ds['level'].values, 4).tolist()}")
if len(sys.argv) < 3:
    sys.exit(0)
zu, zt, ev = (ds[n].values for n in
              ("zonal_mean_eastward_wind", "zonal_mean_air_temperature", "eddy_variance_air_temperature"))
lat = ds["lat"].values  # north to south
rows = list(csv.DictReader(open(sys.argv[2])))
sig = sorted({float(r["sigma"]) for r in rows})
dlat = sorted({float(r["lat"]) for r in rows}, reverse=True)
d = {(float(r["sigma"]), float(r["lat"])): r for r in rows}
du = np.array([[float(d[(s, la)]["u"]) for la in dlat] for s in sig])
dt = np.array([[float(d[(s, la)]["T"]) for la in dlat] for s in sig])
de = np.array([[float(d[(s, la)]["T_eddy_var"]) for la in dlat] for s in sig])
assert np.allclose(dlat, lat, atol=1e-3), "grids differ"
w = np.cos(np.radians(lat))
rms = lambda a: np.sqrt((a ** 2 * w).sum(-1) / w.sum())
print("| level | σ (assim) | rms Δu (m/s) | rms ΔT (K) | max u assim / dinosaur | max eddy var T assim / dinosaur (K²) |")
print("|---|---|---|---|---|---|")
for k in range(len(sig)):
    print(f"| {k + 1} | {ds['level'].values[k]:.3f} | {rms(zu[k] - du[k]):.2f} | {rms(zt[k] - dt[k]):.2f} | "
          f"{zu[k].max():.1f} / {du[k].max():.1f} | {ev[k].max():.1f} / {de[k].max():.1f} |")
for name, hemi in [("northern", lat > 0), ("southern", lat < 0)]:
    for label, z in [("assim", zu), ("dinosaur", du)]:
        sub = np.where(hemi[None, :], z, -np.inf)
        k, j = np.unravel_index(np.argmax(sub), sub.shape)
        print(f"{name} jet, {label}: {z[k, j]:.2f} m/s at {lat[j]:.1f}°, level {k + 1}")
print(f"all levels: rms Δu {np.sqrt((rms(zu - du) ** 2).mean()):.2f} m/s, rms ΔT {np.sqrt((rms(zt - dt) ** 2).mean()):.2f} K; "
      f"T range assim {zt.min():.1f}-{zt.max():.1f} K, dinosaur {dt.min():.1f}-{dt.max():.1f} K")
