"""The Python package against the Rust toolkit: `assim.run` and `assim.simulate` return the
numbers the CLI writes; the models step as the core does (checked against independent numpy
integrations); the operators observe what they say; bad input raises a Python exception
with the Rust message and never takes the interpreter down.

Run from the repository root (the experiment files' relative paths are resolved from there):
    python -m pytest python/tests
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import assim

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "experiments" / "swe_t21_quick.toml"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    os.chdir(ROOT)
    return assim.run(QUICK, out=tmp_path_factory.mktemp("quick"))


def test_run_returns_the_metrics_the_files_hold(quick_run):
    r = quick_run
    means = r.metrics[r.metrics["seed"].astype(str) == "mean"].reset_index()
    assert list(means["method"]) == ["Var3D xB=0.02", "LETKF N=16 loc_rad=800"]
    with open(r.out / "metrics.json") as f:
        js = json.load(f)
    for row, m in zip(means.itertuples(), js["methods"]):
        assert math.isclose(row.rmse_a, m["rmse_a"], rel_tol=1e-12)
    # The LETKF beats 3D-Var on this bed (docs/osse.md), and both beat nothing-at-all.
    letkf, var3d = means["rmse_a"][1], means["rmse_a"][0]
    assert 0 < letkf < var3d < 1.0
    assert len(r.series) == 2 * 24


def test_run_opens_the_analyses_as_cf_datasets(quick_run):
    r = quick_run
    assert set(r.analyses) == {"Var3D xB=0.02", "LETKF N=16 loc_rad=800"}
    ds = r.analyses["LETKF N=16 loc_rad=800"]
    assert isinstance(ds, xr.Dataset)
    assert ds["geopotential"].dims == ("time", "lat", "lon")
    assert ds["geopotential"].attrs["standard_name"] == "geopotential"
    assert ds.sizes["time"] == 24 and ds.sizes["lat"] == 32 and ds.sizes["lon"] == 64
    # The analyses' RMSE against the truth, recomputed in numpy, is the run's own score.
    err = (ds["geopotential"] - r.truth["geopotential"]).values
    w = np.cos(np.deg2rad(ds["lat"].values))[None, :, None]
    rmse = np.sqrt((w * err**2).sum(axis=(1, 2)) / (w.sum() * err.shape[2]))
    ours = r.series[r.series["method"] == "LETKF N=16 loc_rad=800"]
    col = [c for c in r.series.columns if c.startswith("rmse_a_geopotential")]
    assert col, list(r.series.columns)
    # Tolerance: the stores hold f32 (Φ ≈ 1e5 to ≈ 0.008) and the score weights rows by
    # Gaussian quadrature, not the cos(lat) used here; a wrong method or time is off by tens of %.
    np.testing.assert_allclose(rmse, ours[col[0]].values, rtol=1e-3)


def test_simulate_writes_a_store_xarray_opens(tmp_path):
    cfg = tmp_path / "w2.toml"
    text = (ROOT / "experiments" / "simulate_williamson2_t42.toml").read_text()
    cfg.write_text(text)
    ds = assim.simulate(cfg, tmp_path / "w2.zarr")
    assert {"geopotential", "eastward_wind", "northward_wind"} <= set(ds.data_vars)
    assert np.isfinite(ds["geopotential"].isel(time=-1).values).all()
    with pytest.raises(assim.AssimError, match="exists"):
        assim.simulate(cfg, tmp_path / "w2.zarr")


def l96_rk4(x, dt, forcing=8.0):
    f = lambda s: (np.roll(s, -1, axis=-1) - np.roll(s, 2, axis=-1)) * np.roll(s, 1, axis=-1) - s + forcing
    k1 = f(x)
    k2 = f(x + dt / 2 * k1)
    k3 = f(x + dt / 2 * k2)
    k4 = f(x + dt * k3)
    return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def test_lorenz96_steps_as_an_independent_rk4():
    m = assim.Lorenz96()
    rng = np.random.default_rng(0)
    x = 8.0 + rng.standard_normal((5, 40))
    got = m.step(x, dt=0.05, steps=20)
    want = x.copy()
    for _ in range(20):
        want = l96_rk4(want, 0.05)
    # Twenty steps of a chaotic model: rounding grows, but stays far below 1e-9.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert m.step(x[0], steps=20).shape == (40,)
    np.testing.assert_array_equal(m.step(x[0], steps=20), got[0])


def test_lorenz63_steps_as_an_independent_rk4():
    def f(s):
        return np.array([10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]])

    x = np.array([1.0, 2.0, 20.0])
    want = x.copy()
    for _ in range(100):
        k1 = f(want)
        k2 = f(want + 0.005 * k1)
        k3 = f(want + 0.005 * k2)
        k4 = f(want + 0.01 * k3)
        want = want + 0.01 / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    np.testing.assert_allclose(assim.Lorenz63().step(x, dt=0.01, steps=100), want, rtol=0, atol=1e-9)


def test_shallow_water_keeps_williamson2_steady():
    m = assim.ShallowWater.from_simulation(ROOT / "experiments" / "simulate_williamson2_t42.toml")
    x0 = m.initial_state()
    assert x0.shape == (3, len(m.lat), len(m.lon)) == (3, 64, 128)
    x = m.step(x0, steps=int(86400 / m.dt))
    # Williamson case 2 is a steady state: a day later the geopotential is unchanged to
    # a few parts in 1e6 of its range (docs/testbed.md).
    phi0 = x0[0]
    assert np.abs(x[0] - phi0).max() < 1e-5 * (phi0.max() - phi0.min())
    assert m.step(np.stack([x0, x0]), steps=2).shape == (2, 3, 64, 128)


def test_operators_observe_what_they_say():
    x = np.arange(40.0)
    h = assim.ObsOperator.pointwise(40, indices=[0, 5, 39], kind="arctan")
    np.testing.assert_allclose(h.apply(x), np.arctan([0.0, 5.0, 39.0]), rtol=1e-15)
    assert h.apply(np.stack([x, -x])).shape == (2, 3)
    d = h.departures(x, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(d, [1.0, 2.0, 3.0] - np.arctan([0.0, 5.0, 39.0]))
    # A station on a grid point sees that point's value (bilinear weights 1 there).
    m = assim.ShallowWater.from_simulation(ROOT / "experiments" / "simulate_williamson2_t42.toml")
    x0 = m.initial_state()
    s = assim.ObsOperator.stations(42, [m.lat[10]], [m.lon[7]], variable="eastward_wind")
    assert s.state_shape == [3, 64, 128] and s.n_obs == 1
    np.testing.assert_allclose(s.apply(x0), [x0[1, 10, 7]], rtol=1e-12)


def test_bad_input_raises_python_exceptions_with_the_rust_message(tmp_path):
    m = assim.Lorenz96()
    with pytest.raises(assim.AssimError, match=r"shape \[40\]"):
        m.step(np.zeros(39))
    with pytest.raises(TypeError):
        m.step(np.zeros(40, dtype=np.int64))
    with pytest.raises(TypeError):
        m.step(np.zeros(40, dtype=np.float32))
    with pytest.raises(assim.AssimError, match="finite"):
        m.step(np.full(40, np.nan))
    with pytest.raises(assim.AssimError, match="nx"):
        assim.Lorenz96(nx=2)
    h = assim.ObsOperator.pointwise(40, indices=[0, 1])
    with pytest.raises(assim.AssimError, match="observation 1 is NaN"):
        h.departures(np.zeros(40), np.array([0.0, np.nan]))
    with pytest.raises(assim.AssimError, match="outside"):
        assim.ObsOperator.pointwise(40, indices=[40])
    with pytest.raises(assim.AssimError, match="off the globe"):
        assim.ObsOperator.stations(21, [95.0], [0.0])
    with pytest.raises(assim.AssimError, match="truncation|T13|13"):
        assim.ObsOperator.stations(13, [0.0], [0.0])
    with pytest.raises(FileNotFoundError, match="no_such.toml"):
        assim.run(tmp_path / "no_such.toml", out=tmp_path / "o")
    bad = tmp_path / "bad.toml"
    text = QUICK.read_text().replace('climate = "', f'climate = "{ROOT / "experiments"}/')
    bad.write_text(text.replace('method = "Var3D"', 'method = "Var3D"\nbogus = 1'))
    with pytest.raises(assim.AssimError, match="bogus"):
        assim.run(bad, out=tmp_path / "o2")
    # The interpreter is still here after all of it.
    assert m.step(np.zeros(40)).shape == (40,)


def test_primitive_equations_step_as_the_simulation_runs(tmp_path):
    # One day of Held–Suarez from rest at T21 L10, two ways: the simulation runner's continuous
    # integration written to Zarr, and 48 steps of the grid model from the same initial state.
    text = (ROOT / "experiments" / "simulate_held_suarez_t21.toml").read_text()
    text = text.replace("spinup_days = 200", "spinup_days = 0").replace("days = 1000", "days = 1")
    cfg = tmp_path / "hs.toml"
    cfg.write_text(text)
    ds = assim.simulate(cfg, tmp_path / "hs.zarr")
    m = assim.PrimitiveEquations.from_simulation(cfg)
    x0 = m.initial_state()
    assert x0.shape == (31, 32, 64) and len(m.sigma) == 10
    x = m.step(x0, steps=int(86400 / m.dt))
    day1 = ds.isel(time=-1)
    # The store holds f32 (≈ 3e-5 K at 300 K, ≈ 0.01 Pa at 1e5 Pa); the grid model starts from
    # the grid state's spectral projection (1e-10 relative): far below one step's change.
    np.testing.assert_allclose(x[:10], day1["air_temperature"].values, rtol=0, atol=1e-3)
    np.testing.assert_allclose(x[10:20], day1["eastward_wind"].values, rtol=0, atol=1e-4)
    np.testing.assert_allclose(x[30], day1["surface_air_pressure"].values, rtol=0, atol=0.1)
    # A day is not nothing: the state moved by more than the tolerance.
    assert np.abs(x[:10] - x0[:10]).max() > 1e-2


def test_run_returns_the_multi_level_analyses(tmp_path):
    # The multi-level OSSE, cut short (a 20-day spin-up and climate, 4 analyses of 3D-Var):
    # its truth and analyses come back as (time, level, lat, lon) Datasets.
    text = (ROOT / "experiments" / "pe_t21_osse.toml").read_text()
    cfg = tmp_path / "pe.toml"
    exp = text.split("[[methods]]")[0]
    exp = exp.replace('climate = "', f'climate = "{ROOT / "experiments"}/')
    for key, value in (("spinup_days", "20"), ("climate_days", "20"), ("ko", "3"), ("burn_in", "0")):
        exp = "\n".join(f"{key} = {value}" if line.split("=")[0].strip() == key else line for line in exp.splitlines())
    cfg.write_text(exp + '\n[[methods]]\nmethod = "Var3D"\nxb = 0.05\n')
    r = assim.run(cfg, out=tmp_path / "out")
    ds = r.analyses["Var3D xB=0.05"]
    assert ds["air_temperature"].dims == ("time", "level", "lat", "lon")
    assert ds.sizes["time"] == 4 and ds.sizes["level"] == r.truth.sizes["level"] == 10
    # The analysis RMSE of T at 850 hPa's level, recomputed from the stores, is the run's own
    # (to the stores' f32 and the cos-latitude weights used here: 3e-4 seen; another level or
    # time is off by 10 % or more).
    col = [c for c in r.series.columns if c.startswith("rmse_a_air_temperature_850")]
    assert col, list(r.series.columns)
    k = int(np.argmin(np.abs(ds["level"].values - 0.85)))
    err = (ds["air_temperature"] - r.truth["air_temperature"]).isel(level=k).values
    w = np.cos(np.deg2rad(ds["lat"].values))[None, :, None]
    rmse = np.sqrt((w * err**2).sum(axis=(1, 2)) / (w.sum() * err.shape[2]))
    first = r.series[r.series["seed"] == r.series["seed"].iloc[0]]  # the stores are the first seed's
    np.testing.assert_allclose(rmse, first[col[0]].values, rtol=1e-3)


def test_column_operators_against_numpy():
    m = assim.PrimitiveEquations.from_simulation(ROOT / "experiments" / "simulate_held_suarez_t21.toml")
    rng = np.random.default_rng(3)
    x = m.initial_state()
    x[:10] = 220.0 + 60.0 * rng.random((10, 32, 64))  # a temperature field with structure
    i, j = 7, 11
    lat, lon = [m.lat[i]], [m.lon[j]]
    sigma, half = np.array(m.sigma), np.array(m.sigma_half)
    # A sonde on a grid point at each full level's pressure sees that level's temperature.
    ps = x[30, i, j]
    sonde = m.radiosondes(lat, lon, list(sigma[2:8] * ps / 100.0))
    np.testing.assert_allclose(sonde.apply(x), x[2:8, i, j], rtol=1e-12)
    # The sounder, rebuilt in numpy: layer weights τ(σ_top) − τ(σ_bottom) of
    # τ = exp(−σ² / (2 σ_peak²)), the surface term τ(1) folded into the lowest layer.
    peaks = [0.2, 0.5, 0.85]
    got = m.sounder(lat, lon, peaks).apply(x)
    want = []
    for p in peaks:
        tau = np.exp(-(half**2) / (2 * p * p))
        w = tau[:-1] - tau[1:]
        w[-1] += tau[-1]
        want.append(float(w @ x[:10, i, j]))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(assim.AssimError, match="peak inside the atmosphere"):
        m.sounder(lat, lon, [1.5])
    with pytest.raises(assim.AssimError, match="pressures must be positive"):
        m.radiosondes(lat, lon, [-5.0])
    with pytest.raises(assim.AssimError, match="off the globe"):
        m.radiosondes([91.0], [0.0], [500.0])
