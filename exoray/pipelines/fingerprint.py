"""What shaped a sweep's output, so that a rerun into the same folder cannot mix two analyses.

A rerun of ``exoray sweep`` (or ``exoray search``) into an existing ``OUT``
only processes what is missing and keeps the rest.  That is only right when
the rerun would have produced the kept results itself: a rerun with another
SNR threshold, detrender or ranker would silently leave one table holding
two analyses.  So every run records the *fingerprint* of the options that
shape its output, and a rerun whose fingerprint differs is refused with the
options that changed (a new ``--out``, or ``--force`` to discard the old
results, resolves it).

What counts (:func:`output_fingerprint`):

* the exoray version;
* the reading options: ``flux_column``, ``verify_checksums`` (which files
  are quarantined);
* every :class:`~exoray.config.PreprocessConfig` field;
* whether the search runs, and every :class:`~exoray.config.SearchConfig`
  field except ``device`` (cpu and cuda search the same grid), with the
  catalogues and the ranker identified by the *content* of their files
  (a newer TOI export at the same path is a change; the same file at
  another path is not), and the model registry when single events are on;
  ``max_baseline_days`` and ``max_trial_periods`` count, since they decide
  deterministically which curves are searched.

What does not count: how the work is spread (``batch_size``, ``workers``,
``num_cpus``, ``address``, Ray or not), ``resume``, the per-curve
``search_timeout_s`` (whether a search finishes in time depends on the
machine's load, not on the analysis), the search ``device``, and the
``reports`` policy (reports are drawings of rows that exist either way;
``exoray report`` renders any candidate later).

The fingerprint of ``OUT``'s results lives in ``OUT/fingerprint.json``,
written *before* any result part, so that a run killed midway is checked
too; each record of ``OUT/run.json`` carries a copy.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Optional

from .._version import __version__
from ..config import SweepConfig
from ..errors import ConfigError
from ..rank.ranker import DEFAULT_MODEL_DIR, ranker_identity
from ..runtime import write_json_atomic
from ..runtime.files import hash_file
from ..vet.known_objects import EB_CATALOG_ENV, SNAPSHOT_EB, SNAPSHOT_TOI, TOI_CATALOG_ENV, _resolve

log = logging.getLogger(__name__)

__all__ = [
    "FINGERPRINT_FILE",
    "output_fingerprint",
    "search_keys",
    "changed_options",
    "read_fingerprint",
    "write_fingerprint",
    "check_rerun",
]

FINGERPRINT_FILE = "fingerprint.json"

#: SearchConfig fields left out: not shaping the output, or replaced by the
#: content identity of the files they name.
_SEARCH_SKIP = {"device", "toi_catalog", "eb_catalog", "ranker_dir", "model_registry"}

#: The command-line option of each fingerprint key, to name it in messages.
_OPTION = {
    "exoray": "exoray version",
    "flux_column": "--flux-column",
    "verify_checksums": "--no-verify",
    "preprocess.quality_mask": "--quality-mask",
    "preprocess.detrend": "--detrend",
    "preprocess.window_days": "--window-days",
    "preprocess.savgol_window_days": "--window-days",
    "preprocess.sigma_upper": "--sigma-upper",
    "search": "--no-search",
    "search.max_planets": "--max-planets",
    "search.snr_threshold": "--snr-threshold",
    "search.sde_threshold": "--sde-threshold",
    "search.min_period_days": "--min-period",
    "search.max_period_days": "--max-period",
    "search.max_baseline_days": "--max-baseline-days",
    "search.max_trial_periods": "--max-trial-periods",
    "search.use_catalog": "--no-catalog",
    "search.rank": "--no-rank",
    "search.single_events": "--single-events",
    "search.anomaly_method": "--anomaly-method",
    "catalog.toi": "--toi-catalog",
    "catalog.eb": "--eb-catalog",
    "ranker": "--ranker",
    "model_registry": "--model-registry",
}


def _jsonable(value: Any) -> Any:
    # tuples become lists, as they do in a JSON file, so a fresh fingerprint compares equal to a stored one
    return json.loads(json.dumps(value, default=str))


def _sha256_file(path: str) -> str:
    """A short content hash of one file."""
    return hash_file(path).hexdigest()[:16]


def _catalog_files(search) -> Dict[str, Optional[str]]:
    return {"toi": _resolve(search.toi_catalog or None, TOI_CATALOG_ENV, SNAPSHOT_TOI),
            "eb": _resolve(search.eb_catalog or None, EB_CATALOG_ENV, SNAPSHOT_EB)}


def _ranker_files(search) -> str:
    return os.path.abspath(search.ranker_dir or os.environ.get("EXORAY_RANKER_DIR") or DEFAULT_MODEL_DIR)


def output_fingerprint(config: SweepConfig) -> Dict[str, Any]:
    """The options of ``config`` that shape a sweep's output, as a flat ``{key: value}`` dict.

    File-backed options (catalogues, ranker) are content hashes; the files
    they came from are under the key ``"_files"``, for messages only (not
    compared).  Files that cannot be read give ``None``; the checks that run
    before any work report them properly.
    """
    fp: Dict[str, Any] = {"exoray": __version__, "flux_column": config.flux_column,
                          "verify_checksums": config.verify_checksums}
    fp.update({f"preprocess.{k}": v for k, v in config.preprocess.to_dict().items()})
    files: Dict[str, Any] = {}
    search = config.search
    fp["search"] = search is not None
    if search is not None:
        fp.update({f"search.{k}": v for k, v in search.to_dict().items() if k not in _SEARCH_SKIP})
        fp.update(_search_files(search, files))
    fp["_files"] = files
    return _jsonable(fp)


def _search_files(search, files: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if search.use_catalog:
        for name, path in _catalog_files(search).items():
            files[f"catalog.{name}"] = path
            try:
                out[f"catalog.{name}"] = _sha256_file(path) if path else None
            except OSError:
                out[f"catalog.{name}"] = None
    if search.rank:
        d = _ranker_files(search)
        files["ranker"] = d
        try:
            out["ranker"] = ranker_identity(d)
        except OSError:
            out["ranker"] = None
    if search.single_events:
        reg = search.model_registry or os.environ.get("EXORAY_MODEL_REGISTRY") or "~/.exoray/models"
        out["model_registry"] = os.path.abspath(os.path.expanduser(reg))
    return out


def search_keys(fp: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a fingerprint that ``exoray search`` and ``exoray rank`` can change."""
    return {k: v for k, v in fp.items()
            if k == "search" or k.startswith(("search.", "catalog.")) or k in ("ranker", "model_registry")}


def _short(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 24 else text[:21] + "..."


#: Options whose command-line flag turns a feature off: named with what they turn off.
_SWITCHES = {
    "verify_checksums": ("--no-verify", "checksum checks"),
    "search.use_catalog": ("--no-catalog", "the known-object cross-match"),
    "search.rank": ("--no-rank", "ranking"),
    "search.single_events": ("--single-events", "the single-event search"),
}
#: Keys that follow from a switch: when the switch changed, it alone is named.
_FOLLOWS = {"catalog.toi": "search.use_catalog", "catalog.eb": "search.use_catalog", "ranker": "search.rank",
            "model_registry": "search.single_events", "search.anomaly_method": "search.single_events"}


def changed_options(old: Dict[str, Any], new: Dict[str, Any], keys: Optional[List[str]] = None) -> List[str]:
    """``"--snr-threshold 7.1 -> 8.0"``-like descriptions of the keys whose values differ."""
    keys = keys if keys is not None else sorted((set(old) | set(new)) - {"_files"})
    out: List[str] = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if a == b or (k in _FOLLOWS and old.get(_FOLLOWS[k]) != new.get(_FOLLOWS[k])):
            continue
        name = _OPTION.get(k, k)
        if k in ("catalog.toi", "catalog.eb", "ranker"):
            pa_ = (old.get("_files") or {}).get(k)
            pb = (new.get("_files") or {}).get(k)
            what = "another file" if k != "ranker" else "another model"
            text = f"{name} ({what}: {pa_ or 'none'} -> {pb or 'none'})" if pa_ != pb else f"{name} ({pb} has changed)"
        elif k == "search":
            text = "--no-search (results were " + ("searched" if a else "not searched") + ", this run would " + \
                   ("search" if b else "not search") + ")"
        elif k in _SWITCHES:
            flag, what = _SWITCHES[k]
            text = f"{flag} ({what} {'on' if a else 'off'} -> {'on' if b else 'off'})"
        else:
            text = f"{name} {_short(a)} -> {_short(b)}"
        if text not in out:
            out.append(text)
    return out


def read_fingerprint(out_dir: str) -> Optional[Dict[str, Any]]:
    """The fingerprint of ``out_dir``'s results: ``OUT/fingerprint.json``, else the latest one in ``run.json``."""
    path = os.path.join(out_dir, FINGERPRINT_FILE)
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); it records the options {out_dir}'s results were made "
                          "with: rerun with --force to redo everything, or use a new --out") from exc
    try:
        with open(os.path.join(out_dir, "run.json")) as fh:
            run = json.load(fh)
    except (OSError, ValueError):
        return None
    for rec in [run] + list(reversed(run.get("history", []))):
        if isinstance(rec.get("fingerprint"), dict):
            return rec["fingerprint"]
    return None


def write_fingerprint(out_dir: str, fp: Dict[str, Any]) -> None:
    """Record ``fp`` as the fingerprint of ``out_dir``'s results (atomically)."""
    write_json_atomic(os.path.join(out_dir, FINGERPRINT_FILE), fp, indent=1, sort_keys=True)


def check_rerun(out_dir: str, new: Dict[str, Any], *, command: str) -> Dict[str, Any]:
    """Refuse, in one line, to add to ``out_dir``'s results with options that would have made them otherwise.

    Returns the fingerprint to record for ``out_dir`` once the run starts.

    ``command="sweep"`` compares everything but the search part, and the
    search part too when both the results and the rerun are searched: a
    ``--no-search`` rerun adds preprocessed curves that ``exoray search``
    (checked against the recorded search part) searches later, and a
    searching rerun into preprocessed-only results searches its new curves
    with options that then become the recorded ones.  ``command="search"``
    compares the exoray version and the search part.  Results without a
    recorded fingerprint (made before exoray recorded one) are accepted with
    a warning.
    """
    old = read_fingerprint(out_dir)
    if old is None:
        log.warning("%s: no record of the options its results were made with (an older exoray); the rerun "
                    "assumes they match", out_dir)
        return new
    searched = set(search_keys(old)) | set(search_keys(new))
    if command == "search":
        keys = ["exoray"]
    else:
        keys = sorted((set(old) | set(new)) - searched - {"_files"})
    if old.get("search") and new.get("search"):
        keys += sorted(searched - {"search"})
    changed = changed_options(old, new, keys)
    if changed:
        if command == "search":
            fix = (f"add --force to discard the candidates in {out_dir} and search every light curve again, or "
                   "search a new sweep (exoray sweep ... --no-search --out NEW, then exoray search NEW)")
        else:
            fix = f"sweep into a new --out, or add --force to discard the results in {out_dir} and redo everything"
        raise ConfigError(f"{out_dir} holds results made with other options: {'; '.join(changed)}. Adding to them "
                          f"would mix two analyses in one table: {fix}")
    if command == "search":
        return with_search_part(old, new)
    return new if new.get("search") else with_search_part(new, old)


def with_search_part(base: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Any]:
    """``base`` with its search part (and the files it names) replaced by ``new``'s."""
    out = {k: v for k, v in base.items() if k not in search_keys(base) and k != "_files"}
    out.update(search_keys(new))
    files = {k: v for k, v in (base.get("_files") or {}).items() if not k.startswith(("catalog.", "ranker"))}
    files.update({k: v for k, v in (new.get("_files") or {}).items() if k.startswith(("catalog.", "ranker"))})
    out["_files"] = files
    return out

