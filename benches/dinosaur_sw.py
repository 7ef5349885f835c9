"""dinosaur (Google, JAX) side by side with `assim simulate`: Williamson case 6 (Rossby-Haurwitz
wave 4) with dinosaur's spectral shallow-water equations and its IMEX-RK3 scheme, at the same
truncation and time step as assim's benchmark files. Prints seconds per model day (best of REPS
timed days, after one compile day).

Usage (in a venv outside the repo, see benches/sw_side_by_side.sh):
    python dinosaur_sw.py TRUNC DT_SECONDS [f32|f64] [REPS]
Restrict cores with taskset and XLA_FLAGS (the wrapper script does).
"""
import os
import sys
import time

import numpy as np

trunc = int(sys.argv[1])
dt_s = float(sys.argv[2])
precision = sys.argv[3] if len(sys.argv) > 3 else "f64"
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
import jax  # noqa: E402

if precision == "f64":
    jax.config.update("jax_enable_x64", True)
from dinosaur import (  # noqa: E402
    associated_legendre, coordinate_systems, layer_coordinates, scales, shallow_water,
    spherical_harmonic, time_integration)
from dinosaur import units as dunits  # noqa: E402

U = scales.units
# T21/T42/T85 are named grids; others (T63) are built the same way: quadratic dealiasing.
# the same Gaussian grid as assim's: T21 32x64, T42 64x128, T63 96x192 (gaussian_nodes per hemisphere)
grid = spherical_harmonic.Grid.construct(max_wavenumber=trunc, gaussian_nodes={21: 16, 42: 32, 63: 48}[trunc])
assert grid.nodal_shape == (4 * {21: 16, 42: 32, 63: 48}[trunc], 2 * {21: 16, 42: 32, 63: 48}[trunc]), grid.nodal_shape
coords = coordinate_systems.CoordinateSystem(grid, layer_coordinates.LayerCoordinates(1))
ps = dunits.SimUnits.from_si()
nd = ps.nondimensionalize
a, om = ps.radius, ps.angular_velocity
w = k = nd(7.848e-6 / U.second)
r = 4
gh0 = nd(9.80616 * 8000 * U.meter**2 / U.second**2)
lon, sl = grid.nodal_mesh
cl = np.sqrt(1 - sl**2)
A = w / 2 * (2 * om + w) * cl**2 + 0.25 * k**2 * cl**(2 * r) * ((r + 1) * cl**2 + (2 * r**2 - r - 2) - 2 * r**2 / cl**2)
B = 2 * (om + w) * k / ((r + 1) * (r + 2)) * cl**r * ((r**2 + 2 * r + 2) - (r + 1)**2 * cl**2)
C = 0.25 * k**2 * cl**(2 * r) * ((r + 1) * cl**2 - (r + 2))
phi = gh0 + a**2 * (A + B * np.cos(r * lon) + C * np.cos(2 * r * lon))
zeta = 2 * w * sl - k * sl * cl**r * (r**2 + 3 * r + 2) * np.cos(r * lon)
_, wq = associated_legendre.gauss_legendre_nodes(grid.latitude_nodes)
wt = np.broadcast_to(wq[None, :], phi.shape)
mphi = (phi * wt).sum() / wt.sum()
z = grid.to_modal(zeta)[None]
state = shallow_water.State(vorticity=z, divergence=np.zeros_like(z), potential=grid.to_modal(phi - mphi)[None])
eq = shallow_water.ShallowWaterEquations(coords, ps, None, np.array([mphi]), densities=np.ones(1))
dt = nd(dt_s * U.second)
step = time_integration.step_with_filters(
    time_integration.imex_rk_sil3(eq, dt), [time_integration.exponential_step_filter(grid, dt)])
day = jax.jit(time_integration.repeated(step, int(round(86400 / dt_s))))
state = day(state)
jax.block_until_ready(state)
best = float("inf")
for _ in range(reps):
    t0 = time.perf_counter()
    state = day(state)
    jax.block_until_ready(state)
    best = min(best, time.perf_counter() - t0)
print(f"dinosaur T{trunc} {precision} dt={dt_s:.0f}s threads={os.environ.get('BENCH_THREADS', '?')}: "
      f"{best:.4f} s per model day")
