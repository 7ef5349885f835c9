"""The xarray + zarr-python side of the read-and-regrid benchmark: open assim's store, load it,
regrid every field onto T21's Gaussian grid with the same first-order conservative scheme
(separable sin-latitude and periodic-longitude overlaps, written independently in numpy),
write a Zarr store."""
import sys, numpy as np, xarray as xr

src, dst = sys.argv[1], sys.argv[2]

def lat_cells(lat):
    n = len(lat); desc = lat[0] > lat[-1]
    first, last = (90.0, -90.0) if desc else (-90.0, 90.0)
    before = np.concatenate([[first], 0.5 * (lat[:-1] + lat[1:])])
    after = np.concatenate([0.5 * (lat[:-1] + lat[1:]), [last]])
    return np.minimum(before, after).clip(-90, 90), np.maximum(before, after).clip(-90, 90)

def lat_weights(s, t):
    ss, sn = lat_cells(s); ts, tn = lat_cells(t)
    lo = np.maximum(ts[:, None], ss[None, :]); hi = np.minimum(tn[:, None], sn[None, :])
    w = np.where(hi > lo, np.sin(np.radians(hi)) - np.sin(np.radians(lo)), 0.0)
    return w / (np.sin(np.radians(tn)) - np.sin(np.radians(ts)))[:, None]

def lon_weights(s, t):
    ds, dt = 360.0 / len(s), 360.0 / len(t)
    w = np.zeros((len(t), len(s)))
    for turn in (-2, -1, 0, 1, 2):
        lo = np.maximum(t[:, None] - dt / 2, s[None, :] - ds / 2 + 360 * turn)
        hi = np.minimum(t[:, None] + dt / 2, s[None, :] + ds / 2 + 360 * turn)
        w += np.clip(hi - lo, 0, None)
    return w / dt

x, _ = np.polynomial.legendre.leggauss(32)
tlat = np.sort(np.degrees(np.arcsin(x)))[::-1]
tlon = np.arange(64) * 360.0 / 64
ds = xr.open_zarr(src).load()
wl = lat_weights(ds.lat.values, tlat); wo = lon_weights(ds.lon.values, tlon)
out = {}
for name in ["t", "ps"]:
    a = ds[name].values.astype(np.float64)
    r = np.einsum("ij,...jk,lk->...il", wl, a, wo, optimize=True)
    dims = ds[name].dims[:-2] + ("lat", "lon")
    out[name] = (dims, r)
res = xr.Dataset(out, coords={"time": ds.time, "level": ds.level, "lat": tlat, "lon": tlon})
res.to_zarr(dst, mode="w")
