"""dinosaur (Google, JAX) side by side with assim's primitive-equation model: the Held-Suarez
climate and the Jablonowski-Williamson (2006) steady state and baroclinic wave, on sigma levels
of equal thickness with dinosaur's IMEX-RK SIL3 scheme (the driver follows
../shared/reference/dinosaur/dino_hs.py).

Usage (in a venv outside the repo: python3 -m venv V && V/bin/pip install dinosaur):
    python dinosaur_pe.py hs TRUNC LAYERS DT_MIN SPINUP_DAYS MEAN_DAYS OUT.csv [FILTER_TAU_HOURS]
    python dinosaur_pe.py jw TRUNC LAYERS DT_MIN DAYS OUT.csv [perturbed|steady]
    python dinosaur_pe.py speed TRUNC LAYERS DT_MIN DAYS
hs writes the time- and zonal-mean u (m/s), T (K) and eddy variance of T (K^2) per level and
latitude, sampled daily after the spin-up; jw writes per day the surface-pressure min/max (hPa)
and the l2 norm (m/s) of the wind's departure from the initial zonal state; speed prints seconds
per model day (best daily time after one compile day). Restrict cores with taskset.
The exponential filter is dino_hs.py's (tau = 0.0087504 in dinosaur's time unit, order 1.5,
cutoff 0.8) unless hs is given FILTER_TAU_HOURS, its e-folding time at the truncation limit.
"""
import csv
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
from dinosaur import (coordinate_systems, held_suarez, primitive_equations,  # noqa: E402
                      primitive_equations_states, scales, sigma_coordinates, spherical_harmonic,
                      time_integration, xarray_utils)

units = scales.units
mode, trunc, layers, dt_min = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
grid = {21: spherical_harmonic.Grid.T21, 31: spherical_harmonic.Grid.T31,
        42: spherical_harmonic.Grid.T42}[trunc]()
coords = coordinate_systems.CoordinateSystem(grid, sigma_coordinates.SigmaCoordinates.equidistant(layers))
ps = primitive_equations.PrimitiveEquationsSpecs.from_si()
dt = ps.nondimensionalize(dt_min * units.minute)
nday = int(round(1440 / dt_min))
if mode in ("hs", "speed"):
    init_fn, aux = primitive_equations_states.isothermal_rest_atmosphere(
        coords, ps, p0=1e5 * units.pascal, p1=5e3 * units.pascal)
    state = init_fn(jax.random.PRNGKey(0))
    ref = aux[xarray_utils.REF_TEMP_KEY]
    orog = primitive_equations.truncated_modal_orography(aux[xarray_utils.OROGRAPHY], coords)
    pe = primitive_equations.PrimitiveEquationsSigma(ref, orog, coords, ps)
    hs = held_suarez.HeldSuarezForcingSigma(coords=coords, physics_specs=ps, reference_temperature=ref)
    eq = time_integration.compose_equations([pe, hs])
else:
    init_fn, aux = primitive_equations_states.steady_state_jw(coords, ps)
    state = init_fn()
    if len(sys.argv) < 8 or sys.argv[7] != "steady":
        state = state + primitive_equations_states.baroclinic_perturbation_jw(coords, ps)
    ref = aux[xarray_utils.REF_TEMP_KEY]
    orog = primitive_equations.truncated_modal_orography(aux[xarray_utils.OROGRAPHY], coords)
    eq = primitive_equations.PrimitiveEquationsSigma(ref, orog, coords, ps)
step = time_integration.imex_rk_sil3(eq, dt)
tau = 0.0087504
if mode == "hs" and len(sys.argv) > 8:
    tau = ps.nondimensionalize(float(sys.argv[8]) * units.hour)
step = time_integration.step_with_filters(
    step, [time_integration.exponential_step_filter(grid, dt, tau=tau, order=1.5, cutoff=0.8)])
run_day = jax.jit(time_integration.repeated(step, nday))


def fields(s):
    t = np.asarray(grid.to_nodal(s.temperature_variation)) + ref[:, None, None]
    u, v = spherical_harmonic.vor_div_to_uv_nodal(grid, s.vorticity, s.divergence)
    u = np.asarray(ps.dimensionalize(u, units.meter / units.second).magnitude)
    v = np.asarray(ps.dimensionalize(v, units.meter / units.second).magnitude)
    p = np.exp(np.asarray(grid.to_nodal(s.log_surface_pressure)))[0]
    p = np.asarray(ps.dimensionalize(p, units.pascal).magnitude) / 100.0
    return u, v, t, p  # (level, lon, lat), lat south to north


lat = np.degrees(np.arcsin(grid.nodal_mesh[1][0]))
if mode == "speed":
    days = int(sys.argv[5])
    t0 = time.time(); s = jax.block_until_ready(run_day(state)); compile_s = time.time() - t0
    best = float("inf")
    for _ in range(days - 1):
        t0 = time.time(); s = jax.block_until_ready(run_day(s)); best = min(best, time.time() - t0)
    print(f"dinosaur HS T{trunc} L{layers} dt={dt_min} min: compile+1 day {compile_s:.1f} s, "
          f"{best:.4f} s per model day (best of {days - 1})")
elif mode == "hs":
    spin, mean_days, out = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
    s = state
    for _ in range(spin):
        s = run_day(s)
    su = st = stt = 0.0
    for _ in range(mean_days):
        s = run_day(s)
        u, v, t, p = fields(s)
        zt = t.mean(1)
        su = su + u.mean(1); st = st + zt; stt = stt + ((t - zt[:, None, :]) ** 2).mean(1)
    su, st, stt = su / mean_days, st / mean_days, stt / mean_days
    sig = np.asarray(coords.vertical.centers)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sigma", "lat", "u", "T", "T_eddy_var"])
        for k in range(layers):
            for j in range(len(lat)):
                w.writerow([f"{sig[k]:.5f}", f"{lat[j]:.4f}", f"{su[k, j]:.4f}", f"{st[k, j]:.4f}", f"{stt[k, j]:.4f}"])
    print(f"dinosaur HS T{trunc} L{layers}: max zonal-mean u {su.max():.2f} m/s, T {st.min():.1f}-{st.max():.1f} K")
else:
    days, out = int(sys.argv[5]), sys.argv[6]
    u0, _, _, _ = fields(state)
    zonal0 = u0.mean(1, keepdims=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["day", "ps_min_hpa", "ps_max_hpa", "l2_u_minus_initial"])
        s = state
        for d in range(1, days + 1):
            s = run_day(s)
            u, v, t, p = fields(s)
            wts = np.cos(np.radians(lat))[None, None, :]
            l2 = np.sqrt((((u - zonal0) ** 2 + v ** 2) * wts).sum() / (wts.sum() * u.shape[1] * layers))
            w.writerow([d, f"{p.min():.3f}", f"{p.max():.3f}", f"{l2:.5f}"])
            print(d, f"{p.min():.2f}", f"{p.max():.2f}", f"{l2:.4f}", flush=True)
