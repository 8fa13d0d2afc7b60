"""The search of one light curve as steps that many light curves can take in lock-step.

A search is written once, as a generator: whenever it needs a BLS
periodogram it *yields* a :class:`PowerRequest` (its light curve, the trial
grid, the red-noise factors) and receives the periodogram back; everything
else (peak finding, refinement choices, acceptance rules, masking) happens
inside the generator.  Two drivers run such generators:

:func:`drive`
    one light curve, each request computed as it comes (the reference);
:func:`drive_lockstep`
    many light curves: every round, the pending requests of all searches
    that share a grid go to the BLS kernel as *one* batch (one call per pass
    for all stars still searching), which is what keeps a GPU busy and
    spares the CPU the per-call overhead.

Both drivers feed each generator the same numbers (up to the float round-off
of a batched kernel call), so a batch of stars finds what each star finds
alone; the tests check it.

References
----------
Kovacs, Zucker & Mazeh 2002 (BLS); Hippke & Heller 2019 (SDE); Jenkins et
al. 2010 (iterative search with masking, the Kepler TPS).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .bls import (
    MIN_POINTS,
    BLSBatch,
    BLSResult,
    _independent_peaks,
    _n_transits,
    _noise_factors,
    _resolve_dtype,
    bls_power,
    get_backend,
    spectrum_sde,
    transit_mask,
)

log = logging.getLogger(__name__)

__all__ = ["PowerRequest", "PassResult", "run_requests", "drive", "drive_lockstep", "pass_steps", "peak_steps",
           "iterative_steps", "as_steps", "SearchOptions"]

_KEYS = ("power", "depth", "depth_err", "snr", "log_likelihood", "duration", "t0")


@dataclass(frozen=True)
class SearchOptions:
    """How periodograms are computed (passed to :func:`~exoray.search.bls.bls_power`)."""

    objective: str = "snr"
    oversample: int = 5
    backend: Optional[str] = None
    dtype: str = "float32"
    device: str = "cpu"
    max_elements: Optional[int] = None
    min_transits: Optional[float] = 1.5

    def power_kwargs(self) -> Dict[str, Any]:
        return dict(objective=self.objective, oversample=self.oversample, backend=self.backend, dtype=self.dtype,
                    device=self.device, max_elements=self.max_elements, min_transits=self.min_transits)


@dataclass(eq=False)
class PowerRequest:
    """One light curve's BLS periodogram on a trial grid.

    Requests whose grid arrays are the *same objects* (and options equal)
    are computed in one kernel call; a search shares its grid between stars
    by taking it from a cache (see :func:`exoray.search.candidates.search_grid`).
    """

    time: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    meta: Dict[str, Any]
    periods: np.ndarray
    durations: np.ndarray
    noise_scale: Optional[np.ndarray]
    duration_mask: Optional[np.ndarray]
    options: SearchOptions

    def group_key(self) -> Tuple:
        return (id(self.periods), id(self.durations), id(self.duration_mask), self.noise_scale is None, self.options)


def run_requests(requests: Sequence[PowerRequest]) -> List[Dict[str, np.ndarray]]:
    """Periodograms for ``requests``, in order; one kernel call per shared grid."""
    out: List[Optional[Dict[str, np.ndarray]]] = [None] * len(requests)
    groups: Dict[Tuple, List[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(r.group_key(), []).append(i)
    for idx in groups.values():
        first = requests[idx[0]]
        batch = BLSBatch([requests[i].time for i in idx], [requests[i].flux for i in idx],
                         [requests[i].ivar for i in idx], [requests[i].meta for i in idx])
        scale = None if first.noise_scale is None else np.stack([requests[i].noise_scale for i in idx])
        spectra = bls_power(batch, first.periods, first.durations, noise_scale=scale,
                            duration_mask=first.duration_mask, **first.options.power_kwargs())
        for i, sp in zip(idx, spectra):
            out[i] = sp
    return out  # type: ignore[return-value]


Steps = Generator[PowerRequest, Dict[str, np.ndarray], Any]


def _flat(req) -> List[PowerRequest]:
    return list(req) if isinstance(req, (list, tuple)) else [req]


def _answer(req, outs: List[Any]) -> Any:
    """The value sent back for ``req``: one periodogram, or a list for a list of requests."""
    return outs if isinstance(req, (list, tuple)) else outs[0]


def drive(gen: Steps) -> Any:
    """Run one search generator to the end, computing each request as it comes; return its value.

    A generator may yield one :class:`PowerRequest` (and gets its periodogram
    back) or a list of them (and gets the list of periodograms).
    """
    try:
        req = next(gen)
        while True:
            req = gen.send(_answer(req, run_requests(_flat(req))))
    except StopIteration as stop:
        return stop.value


def drive_lockstep(gens: Sequence[Steps], *, time_limit_s: Optional[float] = None,
                   on_time_limit: Optional[Callable[[int, float], BaseException]] = None) -> List[Any]:
    """Run many search generators together; one value (or the exception that stopped it) per generator.

    Each round collects the pending request of every generator still running
    and computes them with :func:`run_requests` (one kernel call per shared
    grid).  A generator that raises stops alone.  If a batched call fails,
    its requests are computed one by one so that the failure lands on the
    light curve that caused it.  ``time_limit_s`` bounds each generator's own
    work plus its share of the batched calls; one over it is closed and gets
    ``on_time_limit(index, seconds)`` as its value.
    """
    n = len(gens)
    results: List[Any] = [None] * n
    spent = np.zeros(n)
    pending: Dict[int, PowerRequest] = {}

    def step(i: int, value: Any) -> None:
        t0 = time.perf_counter()
        try:
            if isinstance(value, BaseException):
                req = gens[i].throw(value)
            elif value is None:
                req = next(gens[i])
            else:
                req = gens[i].send(value)
        except StopIteration as stop:
            results[i] = stop.value
            pending.pop(i, None)
        except Exception as exc:  # noqa: BLE001 - reported for this light curve only
            results[i] = exc
            pending.pop(i, None)
        else:
            pending[i] = req
        finally:
            spent[i] += time.perf_counter() - t0

    for i in range(n):
        step(i, None)
    while pending:
        order = sorted(pending)
        flat = [_flat(pending[i]) for i in order]
        reqs = [r for f in flat for r in f]
        t0 = time.perf_counter()
        try:
            outs_flat: List[Any] = run_requests(reqs)
        except Exception:  # noqa: BLE001 - find the culprit: one by one
            outs_flat = []
            for r in reqs:
                try:
                    outs_flat.append(run_requests([r])[0])
                except Exception as exc:  # noqa: BLE001
                    outs_flat.append(exc)
        spent[order] += (time.perf_counter() - t0) / len(order)
        outs, k = [], 0
        for i, f in zip(order, flat):
            got = outs_flat[k:k + len(f)]
            k += len(f)
            bad = next((g for g in got if isinstance(g, BaseException)), None)
            outs.append(bad if bad is not None else _answer(pending[i], got))
        for i, o in zip(order, outs):
            if time_limit_s and spent[i] > time_limit_s:
                gens[i].close()
                pending.pop(i, None)
                results[i] = on_time_limit(i, float(spent[i])) if on_time_limit else TimeoutError(
                    f"search {i} ran for {spent[i]:.1f} s, over its limit of {time_limit_s} s")
                continue
            step(i, o)
    return results


def as_steps(fn: Callable) -> Callable[..., Steps]:
    """A plain function as a step generator that asks for nothing (for simple hooks)."""

    def gen(*args, **kwargs):
        return fn(*args, **kwargs)
        yield  # pragma: no cover - makes this a generator function

    return gen


# ---------------------------------------------------------------------------
# One pass: periodogram, SDE, independent peaks


@dataclass
class PassResult:
    """The coarse periodogram of one pass and its independent peaks (not yet refined)."""

    time: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    meta: Dict[str, Any]
    periods: np.ndarray
    durations: np.ndarray
    duration_mask: Optional[np.ndarray]
    spectrum: Dict[str, np.ndarray]
    scales: Optional[np.ndarray]
    sde: float
    sde_raw: float
    power_detrended: np.ndarray
    peaks: List[int]
    options: SearchOptions
    #: refinement: fine periods per peak, and whether the refined value
    #: replaces the coarse one even when lower (a semi-coherent pass, whose
    #: coarse power is not a box's SNR on these data)
    refine_points: Optional[int] = None
    coherent_refine: bool = False


def pass_steps(t, y, iv, meta, periods, durations, options: SearchOptions, *, red_noise: bool = True,
               duration_mask=None, n_peaks: int = 1, detrend_window: Optional[int] = None,
               blocks: Optional[np.ndarray] = None) -> Steps:
    """Periodogram of one light curve on the grid, its SDE and its ``n_peaks`` independent peaks.

    With ``blocks`` (a block id per cadence, e.g. the sector), the pass is
    *semi-coherent*: each block is searched on its own on the (block-length)
    grid, all blocks in one round, and the blocks' box SNRs are added in
    quadrature at every trial period, so that a signal present in every
    block stands out by the square root of their number at the cost of one
    block's search each.  The phase between blocks is left free here; the
    refinement of each peak (:func:`peak_steps`) then searches the joined
    light curve coherently on a fine grid around it.
    """
    d_arr = np.asarray(durations, dtype=np.float64)
    p_arr = np.asarray(periods, dtype=np.float64)
    scales = _noise_factors(t, y, iv, d_arr, p_arr.size) if red_noise else None
    ids = None if blocks is None else np.unique(blocks)
    if ids is None or ids.size < 2:
        sp = yield PowerRequest(t, y, iv, meta, periods, durations, scales, duration_mask, options)
        refine_points, coherent = None, False
    else:
        reqs = []
        for b in ids:
            sel = blocks == b
            if sel.sum() < MIN_POINTS:
                continue
            tb, yb, ib = t[sel], y[sel], iv[sel]
            sb = _noise_factors(tb, yb, ib, d_arr, p_arr.size) if red_noise else None
            reqs.append(PowerRequest(tb, yb, ib, meta, periods, durations, sb, duration_mask, options))
        parts = yield reqs
        sp = _combine_blocks(parts)
        # each peak is refined coherently over the joined span: peak_steps
        # sizes that grid (coherent_points)
        refine_points, coherent = None, True
    pw = sp["power"]
    sde, sde_raw, det = spectrum_sde(pw, detrend_window)
    idx = _independent_peaks(pw, p_arr, max(1, int(n_peaks))) or [int(np.nanargmax(pw))]
    return PassResult(t, y, iv, meta, p_arr, d_arr, duration_mask, sp, scales, sde, sde_raw, det, idx, options,
                      refine_points=refine_points, coherent_refine=coherent)


def _combine_blocks(parts: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """Blocks' periodograms as one: SNRs (dips only) added in quadrature; box values from the strongest block."""
    power = np.stack([np.maximum(p["power"], 0.0) for p in parts])
    best = np.argmax(power, axis=0)
    out = {k: np.take_along_axis(np.stack([p[k] for p in parts]), best[None, :], axis=0)[0]
           for k in _KEYS if k in parts[0]}
    out["power"] = out["snr"] = np.sqrt(np.sum(power**2, axis=0))
    return out


def coherent_points(lo: float, hi: float, period: float, span: float, duration: float, *, base: int = 41,
                    per_element: float = 3.0) -> int:
    """Trial periods between ``lo`` and ``hi`` for a coherent search over ``span`` days.

    Two trial frequencies ``df`` apart drift apart by ``span * df * period``
    days of transit time over the data; sampling that drift at a third of
    the shortest trial ``duration`` keeps every transit of the span inside
    the box (a loss of at most a sixth of a duration at the ends).  Never
    fewer than ``base``, the one-block refinement.
    """
    df = abs(1.0 / lo - 1.0 / hi)
    n = per_element * span * period * df / max(duration, 1e-9)
    return int(max(base, np.ceil(n) + 1))


def _fine_grid(pr: np.ndarray, ib: int, n: int) -> np.ndarray:
    lo, hi = pr[max(ib - 1, 0)], pr[min(ib + 1, pr.size - 1)]
    return np.unique(np.concatenate([1.0 / np.linspace(1.0 / hi, 1.0 / lo, int(n)), [pr[ib]]]))


def peak_steps(p: PassResult, j: int, *, refine: bool = True, refine_points: int = 41) -> Steps:
    """The ``j``-th peak of a pass as a :class:`BLSResult`, refined on a fine period grid around it."""
    sp, pr, ib = p.spectrum, p.periods, p.peaks[j]
    d_arr = p.durations
    best = {k: float(sp[k][ib]) for k in _KEYS}
    best["period"] = float(pr[ib])
    if p.refine_points:
        refine_points = p.refine_points
    if p.coherent_refine and pr.size > 1:
        d_min = float(np.min(d_arr[ib] if d_arr.ndim > 1 else d_arr))
        refine_points = coherent_points(pr[max(ib - 1, 0)], pr[min(ib + 1, pr.size - 1)], float(pr[ib]),
                                        float(p.time[-1] - p.time[0]), d_min, base=refine_points)
    if refine and pr.size > 1 and refine_points > 1:
        fine = _fine_grid(pr, ib, refine_points)
        dfine = d_arr if d_arr.ndim <= 1 else np.broadcast_to(d_arr[ib], (fine.size, d_arr.shape[1]))
        mfine = None if p.duration_mask is None else np.broadcast_to(p.duration_mask[ib], (fine.size,) + p.duration_mask.shape[1:])
        sfine = None
        if p.scales is not None:
            si = p.scales
            sfine = si if si.ndim == 1 else np.broadcast_to(si[ib], (fine.size, si.shape[1]))
        rf = yield PowerRequest(p.time, p.flux, p.ivar, p.meta, fine, dfine, sfine, mfine, p.options)
        jf = int(np.nanargmax(rf["power"]))
        if rf["power"][jf] >= best["power"] or p.coherent_refine:
            best = {k: float(rf[k][jf]) for k in _KEYS}
            best["period"] = float(fine[jf])
    det = p.power_detrended
    # the SDE of a secondary peak: how far it stands out of the same spectrum
    peak_sde = p.sde if j == 0 else float((det[ib] - det.mean()) / det.std()) if det.std() > 0 else 0.0
    beta = 1.0
    if p.scales is not None:
        si = p.scales if p.scales.ndim == 1 else p.scales[ib]
        dl = d_arr if d_arr.ndim <= 1 else d_arr[ib]
        beta = float(np.interp(np.log(best["duration"]), np.log(np.atleast_1d(dl)), np.atleast_1d(si)))
    n_tr, n_in = _n_transits(p.time, best["period"], best["t0"], best["duration"])
    o = p.options
    res = BLSResult(
        period=best["period"], t0=best["t0"], duration=best["duration"], depth=best["depth"],
        depth_err=best["depth_err"], snr=best["snr"], snr_white=best["snr"] * beta, red_noise=beta,
        power=best["power"], log_likelihood=best["log_likelihood"], sde=peak_sde, sde_raw=p.sde_raw,
        n_transits=n_tr, n_points_in_transit=n_in, periods=pr, power_spectrum=sp["power"],
        power_detrended=det, depth_spectrum=sp["depth"], duration_spectrum=sp["duration"],
        t0_spectrum=sp["t0"], snr_spectrum=sp["snr"], log_likelihood_spectrum=sp["log_likelihood"],
        objective=o.objective, backend=get_backend(o.backend),
        dtype=str(_resolve_dtype(o.dtype)).replace("torch.", ""), device=str(o.device),
        n_points=int(p.time.size), baseline=float(p.time[-1] - p.time[0]), candidate_index=0, peak_rank=j,
    )
    for k in ("tic_id", "sector", "source_path"):
        if k in p.meta:
            res[k] = p.meta[k]
    return res


def search_steps(t, y, iv, meta, periods, durations, options: SearchOptions, *, red_noise: bool = True,
                 duration_mask=None, n_peaks: int = 1, refine: bool = True, refine_points: int = 41,
                 detrend_window: Optional[int] = None) -> Steps:
    """One full pass: the best peak refined, with the next ``n_peaks - 1`` as ``alternatives``."""
    p = yield from pass_steps(t, y, iv, meta, periods, durations, options, red_noise=red_noise,
                              duration_mask=duration_mask, n_peaks=n_peaks, detrend_window=detrend_window)
    found = []
    for j in range(len(p.peaks)):
        found.append((yield from peak_steps(p, j, refine=refine, refine_points=refine_points)))
    found[0]["alternatives"] = found[1:]
    return found[0]


# ---------------------------------------------------------------------------
# The iterative search


def iterative_steps(t, y, iv, meta, periods, durations, options: SearchOptions, *, accept, after_signal=None,
                    max_planets: int = 3, max_passes: Optional[int] = None, mask_width: float = 2.0,
                    max_vetoes: int = 4, n_peaks: int = 1, red_noise: bool = True, duration_mask=None,
                    refine: bool = True, refine_points: int = 41, detrend_window: Optional[int] = None,
                    blocks: Optional[np.ndarray] = None) -> Steps:
    """Search, mask, search again (see :func:`exoray.search.bls.iterative_search` for the rules).

    ``accept`` is a step generator function ``accept(result, time, flux,
    ivar, keep)`` (wrap a plain function with :func:`as_steps`): it may ask
    for periodograms of its own (a re-measurement).  Peaks of a pass are
    refined only when ``accept`` gets to them, strongest first.
    """
    found: List[BLSResult] = []
    keep = np.ones(t.size, bool)
    counted = vetoes = k = 0
    max_passes = int(max_planets) + 2 if max_passes is None else int(max_passes)
    while k < max_passes:
        if counted >= max_planets or keep.sum() < MIN_POINTS:
            break
        p = yield from pass_steps(t[keep], y[keep], iv[keep], meta, periods, durations, options,
                                  red_noise=red_noise, duration_mask=duration_mask, n_peaks=n_peaks,
                                  detrend_window=detrend_window, blocks=None if blocks is None else blocks[keep])
        ib = p.peaks[0]
        log.debug("iterative search pass %d: P=%.5f d SDE=%.2f SNR=%.1f (coarse)", k, p.periods[ib], p.sde,
                  p.spectrum["snr"][ib])
        chosen = veto = None
        for j in range(len(p.peaks)):
            cand = yield from peak_steps(p, j, refine=refine, refine_points=refine_points)
            verdict = yield from accept(cand, t, y, iv, keep.copy())
            if isinstance(verdict, np.ndarray):
                if vetoes < max_vetoes and (verdict & keep).any():
                    veto = verdict
                    break
                continue  # no vetoes left: just not this peak
            if verdict is not None:
                chosen = verdict
                break
        if veto is not None:
            vetoes += 1
            keep &= ~veto
            continue  # the same pass again, without the vetoed event
        k += 1
        if chosen is None:
            break
        res = chosen
        res["candidate_index"] = len(found)
        found.append(res)
        out = after_signal(res, t, y, keep.copy()) if after_signal is not None else None
        also_mask, counts = True, True
        if out is not None:
            new_y, also_mask = out[0], out[1]
            if len(out) > 2:
                counts = bool(out[2])
            if new_y is not None:
                new_y = np.asarray(new_y, dtype=np.float64)
                if new_y.shape != y.shape or not np.all(np.isfinite(new_y[keep])):
                    raise InputError("after_signal must return finite flux for every cadence it was given")
                y = new_y
        counted += int(counts)
        if also_mask:
            keep &= ~transit_mask(t, res.period, res.t0, mask_width * res.get("mask_duration", res.duration))
    return found
