"""The xarray + zarr-python side of the read benchmark: open a Zarr store and load every
variable into memory (what `assim data inspect` does before describing it)."""
import sys, xarray as xr

ds = xr.open_zarr(sys.argv[1]).load()
print({k: v.shape for k, v in ds.data_vars.items()})
