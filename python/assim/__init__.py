"""assim: generative (score-based) and classical data assimilation of the atmosphere.

The Python entry to the Rust toolkit (docs/python.md):

- :func:`run` cycles an experiment file, as ``assim run`` does, and returns its metrics as
  pandas DataFrames and its analyses as xarray Datasets;
- :func:`simulate` runs a simulation file to a Zarr store and opens it with xarray;
- :class:`Lorenz63`, :class:`Lorenz96`, :class:`ShallowWater` and :class:`PrimitiveEquations`
  step states held in numpy
  arrays; :class:`ObsOperator` applies observation operators to them.

Every error of the Rust core arrives as a Python exception with the Rust message:
``FileNotFoundError`` for a missing file, ``OSError`` for another I/O failure, and
:class:`AssimError` (a ``ValueError``) for bad input, a bad file or a failed computation.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Union

import pandas as pd
import xarray as xr

from ._assim import AssimError, Lorenz63, Lorenz96, ObsOperator, PrimitiveEquations, ShallowWater, SphereModel
from ._assim import run_experiment as _run_experiment
from ._assim import simulate as _simulate

__all__ = [
    "AssimError",
    "Lorenz63",
    "Lorenz96",
    "ObsOperator",
    "PrimitiveEquations",
    "Run",
    "ShallowWater",
    "run",
    "simulate",
    "SphereModel",
]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class Run:
    """What :func:`run` returns: the outputs of one ``assim run``, opened.

    Attributes:
        out: the directory the run wrote (metrics.json, metrics.csv, series.csv, config.toml
            and the test bed's own files).
        metrics: one row per method and seed (``metrics.csv``): time-mean RMSE with its 95 %
            interval, spread, CRPS, spread/skill, wall time per cycle, divergence, and the
            per-variable scores of multi-variable beds.
        series: one row per method, seed and analysis time (``series.csv``).
        analyses: each method's analysis (ensemble mean) at every analysis time, by method
            label, as xarray Datasets with CF names (the shallow-water OSSE writes them; other
            beds write none).
        truth: the truth at the analysis times on the same grid, when the bed writes it.
    """

    out: Path
    metrics: pd.DataFrame
    series: pd.DataFrame
    analyses: Dict[str, xr.Dataset] = field(default_factory=dict)
    truth: Optional[xr.Dataset] = None


def run(path: PathLike, out: Optional[PathLike] = None) -> Run:
    """Cycles every method of the experiment file ``path`` on every seed, as ``assim run``.

    Args:
        path: the experiment file (TOML; docs/experiments.md). Relative paths inside it are
            resolved as ``assim run`` resolves them.
        out: the output directory; a new temporary directory when omitted.

    Returns:
        The :class:`Run`: metrics and series as DataFrames, analyses as Datasets.

    Raises:
        FileNotFoundError: ``path`` (or a file it names) does not exist.
        AssimError: the file is invalid or a method cannot run on its bed.
    """
    out_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="assim-run-"))
    _run_experiment(os.fspath(path), os.fspath(out_dir))
    metrics = pd.read_csv(out_dir / "metrics.csv")
    series = pd.read_csv(out_dir / "series.csv")
    analyses = {}
    adir = out_dir / "analyses"
    if adir.is_dir():
        for store in sorted(adir.glob("*.zarr")):
            ds = xr.open_zarr(store)
            analyses[ds.attrs.get("method", store.stem)] = ds
    truth_path = out_dir / "truth.zarr"
    truth = xr.open_zarr(truth_path) if truth_path.is_dir() else None
    return Run(out=out_dir, metrics=metrics, series=series, analyses=analyses, truth=truth)


def simulate(path: PathLike, out: PathLike, force: bool = False) -> xr.Dataset:
    """Runs the simulation file ``path`` (shallow water or primitive equations) to the Zarr
    store ``out`` and opens it.

    Args:
        path: the simulation file (TOML; docs/simulate.md).
        out: the Zarr store to write (a directory).
        force: replace an existing store (only once the new one is complete).

    Returns:
        The store as an xarray Dataset (CF names, time in hours).
    """
    _simulate(os.fspath(path), os.fspath(out), force)
    return xr.open_zarr(os.fspath(out))
