"""The reference run of `assim data verify` (docs/data.md, "Real reports"): the same univariate
optimal interpolation and 10-fold cross-validation in numpy/scipy, reading the files with
ecCodes. Outside the build; needs `pip install eccodes numpy scipy`.

    python benches/verify_numpy.py synop        # experiments/verify_real_synop.toml's quantities
    python benches/verify_numpy.py radiosondes  # experiments/verify_real_radiosondes.toml's

Prints, per quantity and length scale, the count, O−B mean and sd, and O−A fit rms: the numbers
that do not depend on the fold assignment (assim shuffles with its own generator, so the
withheld rows differ by sampling only).
"""
import sys

import eccodes
import numpy as np
from scipy.linalg import cho_factor, cho_solve

DATA = "crates/assim-data/tests/data/"
R_EARTH = 6371.22


def grib_field(path, short, level=None):
    with open(path, "rb") as f:
        while True:
            h = eccodes.codes_grib_new_from_file(f)
            if h is None:
                break
            ok = eccodes.codes_get(h, "shortName") == short and (
                level is None or eccodes.codes_get(h, "level") == level
            )
            if short == "2t" and eccodes.codes_get(h, "shortName") == "2t":
                ok = True
            if ok:
                ni, nj = eccodes.codes_get(h, "Ni"), eccodes.codes_get(h, "Nj")
                lat0, lat1 = eccodes.codes_get(h, "latitudeOfFirstGridPointInDegrees"), eccodes.codes_get(
                    h, "latitudeOfLastGridPointInDegrees"
                )
                vals = eccodes.codes_get_values(h).reshape(nj, ni)
                eccodes.codes_release(h)
                return np.linspace(lat0, lat1, nj), np.arange(ni) * 360.0 / ni, vals
            eccodes.codes_release(h)
    raise KeyError(short)


def bilinear(lat, lon, f, plat, plon):
    dlat = lat[1] - lat[0]
    y = (plat - lat[0]) / dlat
    i0 = np.clip(np.floor(y).astype(int), 0, len(lat) - 2)
    wy = np.clip(y - i0, 0, 1)
    x = np.mod(plon, 360.0) / (lon[1] - lon[0])
    j0 = np.floor(x).astype(int) % len(lon)
    j1 = (j0 + 1) % len(lon)
    wx = x - np.floor(x)
    return (1 - wy) * ((1 - wx) * f[i0, j0] + wx * f[i0, j1]) + wy * ((1 - wx) * f[i0 + 1, j0] + wx * f[i0 + 1, j1])


def reports(path, keys):
    out = []
    with open(path, "rb") as f:
        while True:
            h = eccodes.codes_bufr_new_from_file(f)
            if h is None:
                break
            try:
                eccodes.codes_set(h, "unpack", 1)
                row = [eccodes.codes_get(h, "#1#latitude"), eccodes.codes_get(h, "#1#longitude")]
                row += [keys[1](h)]
                if row[2] is not None:
                    out.append(row)
            except Exception:
                pass
            eccodes.codes_release(h)
    return np.array(out, dtype=float)


def first(key):
    def get(h):
        v = eccodes.codes_get(h, key)
        return None if v in (eccodes.CODES_MISSING_DOUBLE, eccodes.CODES_MISSING_LONG) else float(v)

    return get


def oi(units, d, length, sb2, so2, at=None):
    c = lambda a, b: np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) * R_EARTH**2 / (2 * length**2))
    a = sb2 * c(units, units) + so2 * np.eye(len(d))
    w = cho_solve(cho_factor(a), d)
    target = units if at is None else at
    return sb2 * c(target, units) @ w


def run(obs, lat, lon, field, sigma_o, scales, folds=10, qc=5.0):
    b = bilinear(lat, lon, field, obs[:, 0], obs[:, 1])
    d = obs[:, 2] - b
    keep = np.abs(d - d.mean()) <= qc * d.std()
    d, o = d[keep], obs[keep]
    p, l = np.radians(o[:, 0]), np.radians(o[:, 1])
    u = np.stack([np.cos(p) * np.cos(l), np.cos(p) * np.sin(l), np.sin(p)], 1)
    so2 = sigma_o**2
    sb2 = max(d.var() - so2, 0.01 * so2)
    fold = np.random.default_rng(1).permutation(len(d)) % folds
    for length in scales:
        fit = d - oi(u, d, length, sb2, so2)
        withheld = np.empty_like(d)
        for k in range(folds):
            tr, te = fold != k, fold == k
            sb2k = max(d[tr].var() - so2, 0.01 * so2)
            withheld[te] = d[te] - oi(u[tr], d[tr], length, sb2k, so2, u[te])
        print(
            f"  n {len(d)}  O-B mean {d.mean():.6f} sd {d.std():.6f}  L {length}  "
            f"O-A fit rms {np.sqrt((fit**2).mean()):.6f}  withheld rms {np.sqrt((withheld**2).mean()):.4f}"
        )


if __name__ == "__main__":
    case = sys.argv[1] if len(sys.argv) > 1 else "synop"
    if case == "synop":
        grib = DATA + "gfs.t12z.pgrbf120.2p5deg.grib2"
        bufr = DATA + "perf_synop.bufr"
        for name, short, key, so in [
            ("msl_pressure", "prmsl", "#1#pressureReducedToMeanSeaLevel", 100.0),
            ("temperature_2m", "2t", "#1#airTemperatureAt2M", 2.0),
        ]:
            lat, lon, f = grib_field(grib, short)
            obs = reports(bufr, (None, first(key)))
            print(name)
            run(obs, lat, lon, f, so, [100.0, 250.0, 500.0])
    else:
        grib, bufr = DATA + "test4.grib", DATA + "temp.bufr"
        for level in (500, 850):
            lat, lon, f = grib_field(grib, "t", level)

            def t_at(h, level=level):
                p = eccodes.codes_get_array(h, "pressure")
                t = eccodes.codes_get_array(h, "airTemperature")
                hit = [tt for pp, tt in zip(p, t) if abs(pp - level * 100) < 1 and tt != eccodes.CODES_MISSING_DOUBLE]
                return float(hit[0]) if hit else None

            obs = reports(bufr, (None, t_at))
            print(f"temperature_{level}hPa")
            run(obs, lat, lon, f, 1.0, [250.0, 500.0, 1000.0, 2000.0])
