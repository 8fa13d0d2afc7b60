"""One decision per candidate: the vetting rules and the ranker's score reconciled.

The rules of :func:`exoray.vet.vet_candidate` give a *rule disposition* from
hard evidence (odd/even, secondary eclipse, shape, centroids, catalogues);
the ranker turns all the vetting statistics, the rule disposition among
them, into a calibrated planet probability ``score``.  A user must never read
"eclipsing_binary" beside a score of 0.97, or "planet_candidate" beside
0.05, so the final ``disposition`` follows the score whenever there is one:

* ``score >= SCORE_THRESHOLD``: ``planet_candidate`` (when the rules said
  otherwise, their verdict stays in ``rule_disposition`` and the flag
  ``rules:<disposition>`` tells the reader what was overruled);
* ``score < SCORE_THRESHOLD``: the rule disposition when it names a
  non-planet class, else ``false_alarm`` with the flag ``low_score``;
* no score (ranking off): the rule disposition.

Every caller (sweep, scoring service, reports, benchmarks) goes through
:func:`decide_rows`, and ``exoray report`` shows the stored decision rather
than re-deciding.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["SCORE_THRESHOLD", "decide", "decide_rows"]

#: Planet probability at and above which a candidate is a planet candidate.
SCORE_THRESHOLD = 0.5


def _score(row: Mapping[str, Any]) -> Optional[float]:
    s = row.get("score")
    try:
        s = float(s)
    except (TypeError, ValueError):
        return None
    return s if math.isfinite(s) else None


def decide(rule_disposition: Optional[str], score: Optional[float],
           threshold: float = SCORE_THRESHOLD) -> Dict[str, Any]:
    """``{"disposition", "flag"}`` for a rule disposition and a score (or ``None``).

    ``flag`` is the vetting flag that records a disagreement (or ``None``).
    """
    rule = rule_disposition or "planet_candidate"
    if score is None or not math.isfinite(score):
        return {"disposition": rule, "flag": None}
    if score >= threshold:
        return {"disposition": "planet_candidate", "flag": None if rule == "planet_candidate" else f"rules:{rule}"}
    if rule != "planet_candidate":
        return {"disposition": rule, "flag": None}
    return {"disposition": "false_alarm", "flag": "low_score"}


def decide_rows(rows: Sequence[Mapping[str, Any]], threshold: float = SCORE_THRESHOLD) -> List[Dict[str, Any]]:
    """Copies of candidate rows with ``rule_disposition`` kept and ``disposition`` decided.

    Idempotent: a row that already carries ``rule_disposition`` is decided
    from it again (so re-scoring with another ranker re-decides).
    """
    out = []
    for r in rows:
        row = dict(r)
        rule = row.get("rule_disposition") or row.get("disposition")
        row["rule_disposition"] = rule
        d = decide(rule, _score(row), threshold)
        row["disposition"] = d["disposition"]
        flags = [f for f in (row.get("vet_flags") or "").split(";") if f and f != "low_score"
                 and not f.startswith("rules:")]
        if d["flag"]:
            flags.append(d["flag"])
        row["vet_flags"] = ";".join(flags)
        out.append(row)
    return out
