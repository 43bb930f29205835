"""``fit_many``: one mixed model per group and/or per response, run in parallel, tidied into one table.

Where the fits run
------------------
* ``client=None`` (default): local worker processes (:class:`concurrent.futures.ProcessPoolExecutor`,
  ``n_jobs`` of them, a tqdm progress bar).  The data and the fit options (e.g. a relationship
  matrix) are handed to each worker process once, when it starts; a task carries only the row
  positions of its group and its formula.  ``n_jobs=1`` fits in
  this process, one model after the other.
* ``client=`` a :class:`dask.distributed.Client`: the data and fit options are scattered to every
  worker once (``broadcast=True``), and each model is one Dask task that receives them and its row
  positions (never a copy of the rows).

Every fit runs with one BLAS thread (parallelism is across models), so that the numbers do not depend
on where a model was fitted: the local and Dask tables are identical.  Within one process fits take
turns (the warnings of each model are recorded with :func:`warnings.catch_warnings`, which is
process-wide), so give Dask workers one thread each (``LocalCluster(threads_per_worker=1)``).

The tidy table
--------------
One row per model × parameter, in task order (groups sorted as ``DataFrame.groupby`` sorts them, then
the responses in the order given):

============  =====================================================================================
column        meaning
============  =====================================================================================
*by columns*  the group's values (when ``by`` is given)
response      the response column (when ``responses`` is given)
component     ``"fixed"`` (a fixed effect), ``"variance"`` (a variance component, ``"Residual"``
              included), ``"correlation"`` (of two random terms of a group), ``"fit"`` (logLik, AIC,
              BIC)
group         grouping factor of a variance component (``"Residual"`` for σ²); empty otherwise
term          coefficient name, random-effect term (``"(Intercept)"``, ``"Days"``), pair
              ``"(Intercept):Days"`` of a correlation, or ``"logLik"``/``"AIC"``/``"BIC"``
estimate      the estimate (variances and correlations as in lme4's ``VarCorr``)
se, df, p     standard error, denominator df (Satterthwaite) and two-sided p of a fixed effect
statistic     t value of a fixed effect
converged     the optimizer reported convergence (False for a failed fit)
singular      boundary (singular) fit
nobs          observations used
warning       warnings raised by the fit (``"Class: message"``, joined by ``" | "``), or ""
error         ``"ExceptionClass: message"`` when the fit failed, else ""; the batch goes on
============  =====================================================================================

A failed fit gives a single row (component ``"fit"``, term ``"logLik"``, NaN estimate) carrying its
error message.
"""
from __future__ import annotations

import os
import re
import threading
import uuid
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..design.frame import as_dataframe
from ..errors import ColumnNotFoundError, DataTypeError, FormulaError, ModelSpecError
from ..progress import tqdm

__all__ = ["fit_many", "tidy"]

TIDY_COLUMNS = ["component", "group", "term", "estimate", "se", "df", "statistic", "p",
                "converged", "singular", "nobs", "warning", "error"]
_FIT_TERMS = ("logLik", "AIC", "BIC")


@dataclass(frozen=True)
class _Task:
    """One model of the batch: its keys, its formula and the row positions of its data."""

    index: int
    keys: tuple
    response: str | None
    formula: str
    rows: np.ndarray | None  # positional rows of ``data``; None: all rows


# --- one model ----------------------------------------------------------------------------------------
def tidy(result) -> pd.DataFrame:
    """The tidy rows of one fitted model (the columns of :data:`TIDY_COLUMNS`, without ``warning``
    and ``error``, which :func:`fit_many` adds).

    Parameters
    ----------
    result : LmmResult
        A fitted model.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.scale.fit_many import tidy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> t = tidy(m)
    >>> t[["component", "group", "term"]].head(3).values.tolist()
    [['fixed', '', '(Intercept)'], ['fixed', '', 'Days'], ['variance', 'Subject', '(Intercept)']]
    >>> round(float(t.loc[t.term == "logLik", "estimate"].iloc[0]), 2)
    -871.81
    """
    ct = result.coef_table
    rows = [("fixed", "", str(name), float(r["estimate"]), float(r["se"]), float(r["df"]), float(r["t"]),
             float(r["p"])) for name, r in ct.iterrows()]
    nan = np.nan
    for _, r in result.varcorr.iterrows():
        group = str(r["group"])
        if pd.isna(r["term1"]):
            rows.append(("variance", group, "Residual", float(r["variance"]), nan, nan, nan, nan))
        elif pd.isna(r["term2"]):
            rows.append(("variance", group, str(r["term1"]), float(r["variance"]), nan, nan, nan, nan))
        else:
            rows.append(("correlation", group, f"{r['term1']}:{r['term2']}", float(r["sd_cor"]),
                         nan, nan, nan, nan))
    for name, value in zip(_FIT_TERMS, (result.loglik, result.aic, result.bic)):
        rows.append(("fit", "", name, float(value), nan, nan, nan, nan))
    out = pd.DataFrame(rows, columns=TIDY_COLUMNS[:8])
    out["converged"] = bool(result.optinfo.converged)
    out["singular"] = bool(result.is_singular) if result.random.terms else False
    out["nobs"] = int(result.nobs)
    return out


def _failed(exc: BaseException, warning_text: str) -> pd.DataFrame:
    row = {c: np.nan for c in TIDY_COLUMNS}
    row.update(component="fit", group="", term="logLik", converged=False, singular=False, nobs=0,
               warning=warning_text, error=f"{type(exc).__name__}: {exc}")
    return pd.DataFrame([row], columns=TIDY_COLUMNS)


# warnings.catch_warnings and threadpool_limits change process-wide state: in a Dask worker with
# several threads, fits take turns so that each model's warnings are its own (use worker processes,
# threads_per_worker=1, for parallelism: the fits are mostly Python code).
_FIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Payload:
    """What every task shares, sent to each worker once: the data and the fit options (which may hold
    a large relationship matrix)."""

    data: pd.DataFrame
    fit_kwargs: dict


def _run_task(payload: _Payload, task: _Task, return_model: bool):
    """Fit one model (one BLAS thread); never raises for a failing fit: the error goes in the table."""
    from ..api import fit

    data, fit_kwargs = payload.data, payload.fit_kwargs
    sub = data if task.rows is None else data.iloc[task.rows]
    model = None
    with _FIT_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                model = fit(task.formula, sub, **fit_kwargs)
                frame = tidy(model)
            error = ""
        except Exception as exc:  # noqa: BLE001 - one failing model never stops the batch
            frame, error, model = None, exc, None
    seen: dict[str, None] = {}
    for w in caught:
        seen[f"{w.category.__name__}: {w.message}"] = None
    warning_text = " | ".join(seen)
    if frame is None:
        frame = _failed(error, warning_text)
    else:
        frame["warning"] = warning_text
        frame["error"] = ""
    return task.index, frame, (model if return_model else None)


# --- local worker processes ---------------------------------------------------------------------------
_WORKER_PAYLOAD: list = []


def _init_worker(payload: _Payload) -> None:
    _WORKER_PAYLOAD[:] = [payload]


def _run_in_worker(task: _Task, return_model: bool):
    return _run_task(_WORKER_PAYLOAD[0], task, return_model)


def _collect(outcomes, total: int, desc: str, progress: bool | None) -> dict:
    """index → (table, model) from an iterator of task outcomes, with a progress bar."""
    results = {}
    bar = tqdm(total=total, desc=desc, progress=progress, leave=False)
    try:
        for i, frame, model in outcomes:
            results[i] = (frame, model)
            bar.update()
    finally:
        bar.close()
    return results


def _run_local(payload: _Payload, tasks, return_models, n_jobs, progress):
    if n_jobs == 1 or len(tasks) == 1:
        return _collect((_run_task(payload, t, return_models) for t in tasks), len(tasks), "fit_many", progress)
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks)), initializer=_init_worker,
                             initargs=(payload,)) as pool:
        futures = [pool.submit(_run_in_worker, t, return_models) for t in tasks]
        return _collect((f.result() for f in as_completed(futures)), len(tasks), "fit_many", progress)


# --- Dask -----------------------------------------------------------------------------------------------
def _run_dask(client, payload: _Payload, tasks, return_models, progress):
    from distributed import as_completed as dask_completed

    data_future = client.scatter(payload, broadcast=True, hash=False)  # sent once to every worker
    token = uuid.uuid4().hex[:12]
    futures = [client.submit(_run_task, data_future, t, return_models,
                             key=f"mixedpy-fit_many-{token}-{t.index}", pure=False) for t in tasks]
    try:
        return _collect((f.result() for f in dask_completed(futures)), len(tasks), "fit_many (dask)", progress)
    finally:
        client.cancel(futures + [data_future])


# --- the batch ------------------------------------------------------------------------------------------
def _with_response(formula: str, response: str) -> str:
    """The formula with its left-hand side replaced by the column ``response``."""
    if "~" not in formula:
        raise FormulaError(f"formula {formula!r} has no '~'")
    rhs = formula.split("~", 1)[1]
    name = response if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", response) else f"`{response}`"
    return f"{name} ~{rhs}"


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _make_tasks(formula: str, data: pd.DataFrame, by: list, responses: list) -> list[_Task]:
    for col in by:  # a missing response column fails only its own models (reported in the table)
        if col not in data.columns:
            raise ColumnNotFoundError(f"column {col!r} of by= is not in the data")
    if by:
        groups = data.groupby(by if len(by) > 1 else by[0], sort=True, observed=True, dropna=True).indices
        keyed = [((k if isinstance(k, tuple) else (k,)), np.asarray(v)) for k, v in groups.items()]
    else:
        keyed = [((), None)]
    formulas = [(r, _with_response(formula, r)) for r in responses] or [(None, formula)]
    tasks = []
    for keys, rows in keyed:
        for resp, f in formulas:
            tasks.append(_Task(len(tasks), tuple(keys), resp, f, rows))
    return tasks


def _model_key(task: _Task, by: list, responses: list):
    key = tuple(task.keys) + ((task.response,) if responses else ())
    return key[0] if len(key) == 1 else key


def fit_many(formula: str, data: pd.DataFrame, by: str | Sequence[str] | None = None,
             responses: Sequence[str] | None = None, client: Any = None, return_models: bool = False,
             n_jobs: int | None = None, *, progress: bool | None = None, **fit_kwargs):
    """Fit one model per group of ``by`` and/or per response; a tidy table of all the fits.

    Parameters
    ----------
    formula : str
        lme4-style formula, e.g. ``"y ~ x + (1 | g)"``.  With ``responses`` its left-hand side is
        replaced by each response in turn.
    data : DataFrame
        The data: pandas, polars, pyarrow, ... (never modified).
    by : str or list of str, optional
        Column(s) whose groups are fitted separately (groups sorted; rows with a missing key dropped).
    responses : list of str, optional
        Response columns, one model each (per group when ``by`` is given too).
    client : dask.distributed.Client, optional
        Run the fits as Dask tasks on this client's cluster (the data are scattered once).
    return_models : bool, default False
        Also return the fitted :class:`~mixedpy.LmmResult` objects.
    n_jobs : int, optional
        Local worker processes (default: the CPUs available); 1 fits in this process.
        Ignored with ``client``.
    progress : bool or None, default None
        A tqdm progress bar: None shows it only on an interactive terminal or in Jupyter,
        True always (a line every few seconds into a log), False never (see :mod:`mixedpy.progress`).
    **fit_kwargs
        Passed to :func:`mixedpy.fit` (``reml``, ``relmat``, ``optimizer``, …).

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, dict)
        The tidy table (see the module documentation for its columns); with ``return_models`` also a
        dict from the model's key (the group value, a tuple of group values, the response, or a tuple
        of group values and response) to its result (None for a failed fit).

    Examples
    --------
    >>> import mixedpy
    >>> d = mixedpy.datasets.load("sleepstudy")
    >>> d["half"] = (d["Days"] >= 5).map({False: "early", True: "late"})
    >>> t = mixedpy.fit_many("Reaction ~ Days + (1 | Subject)", d, by="half", n_jobs=1,
    ...                      progress=False)
    >>> t.loc[t.term == "Days", ["half", "estimate"]].round(2).values.tolist()
    [['early', 8.25], ['late', 10.91]]
    >>> t = mixedpy.fit_many("y ~ Days + (1 | Subject)", d, responses=["Reaction", "nope"], n_jobs=1,
    ...                      progress=False)
    >>> bad = t[t.error != ""]  # reported, not raised
    >>> bad.response.tolist(), bad.error.str.split(":").str[0].tolist()
    (['nope'], ['ColumnNotFoundError'])
    """
    data = as_dataframe(data)  # pandas, polars, pyarrow, ...: pandas with NumPy-backed columns
    if not isinstance(formula, str):
        raise DataTypeError(f"formula must be a string, got {type(formula).__name__}")
    by_cols, resp = _as_list(by), _as_list(responses)
    tasks = _make_tasks(formula, data, by_cols, resp)
    if client is not None:
        if not (hasattr(client, "scatter") and hasattr(client, "submit")):
            raise DataTypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
        results = _run_dask(client, _Payload(data, fit_kwargs), tasks, return_models, progress)
    else:
        n = n_jobs if n_jobs is not None else _available_cpus()
        if int(n) < 1:
            raise ModelSpecError(f"n_jobs must be a positive integer, got {n_jobs!r}")
        results = _run_local(_Payload(data, fit_kwargs), tasks, return_models, int(n), progress)
    frames = []
    for t in tasks:
        frame = results[t.index][0]
        keys = dict(zip(by_cols, t.keys))
        if resp:
            keys["response"] = t.response
        frames.append(frame.assign(**keys)[list(keys) + TIDY_COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    for col in ("converged", "singular"):
        table[col] = table[col].astype(bool)
    table["nobs"] = table["nobs"].astype(np.int64)
    if return_models:
        return table, {_model_key(t, by_cols, resp): results[t.index][1] for t in tasks}
    return table


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
