"""One decision per candidate: rules and score reconciled (exoray.vet.decision)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exoray.vet.decision import SCORE_THRESHOLD, decide, decide_rows


@pytest.mark.parametrize("rule,score,expect,flag", [
    ("planet_candidate", 0.9, "planet_candidate", None),
    ("eclipsing_binary", 0.9, "planet_candidate", "rules:eclipsing_binary"),
    ("eclipsing_binary", 0.1, "eclipsing_binary", None),
    ("planet_candidate", 0.1, "false_alarm", "low_score"),
    ("variability", None, "variability", None),
    ("planet_candidate", float("nan"), "planet_candidate", None),
])
def test_decide(rule, score, expect, flag):
    d = decide(rule, score)
    assert d["disposition"] == expect and d["flag"] == flag


def test_score_and_disposition_never_contradict():
    rng = np.random.default_rng(0)
    rules = ["planet_candidate", "eclipsing_binary", "variability", "instrumental", "false_alarm"]
    rows = [{"rule_disposition": rng.choice(rules), "score": float(rng.uniform()), "vet_flags": "odd_even"}
            for _ in range(200)]
    for r in decide_rows(rows):
        assert (r["disposition"] == "planet_candidate") == (r["score"] >= SCORE_THRESHOLD)
        assert "odd_even" in r["vet_flags"]


def test_decide_rows_is_idempotent_and_rescoring_redecides():
    rows = decide_rows([{"disposition": "eclipsing_binary", "score": 0.8, "vet_flags": "secondary_eclipse"}])
    assert rows[0]["rule_disposition"] == "eclipsing_binary" and rows[0]["disposition"] == "planet_candidate"
    again = decide_rows(rows)
    assert again == rows
    rows[0]["score"] = 0.2
    low = decide_rows(rows)[0]
    assert low["disposition"] == "eclipsing_binary" and "rules:" not in low["vet_flags"]


def test_ranker_prior_moves_scores_by_bayes_rule():
    from exoray.rank.ranker import Ranker

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int)
    kw = dict(n_bootstrap=4, params={"num_boost_round": 30}, feature_names=("a", "b", "c"))
    plain = Ranker(**kw).fit(X, y)
    low = Ranker(prior=0.05, **kw).fit(X, y)
    p = plain.member_scores(X[:50])  # (members, rows); the prior moves each member's probability
    q = low.member_scores(X[:50])
    prev = plain.config.train_prevalence
    odds = p / (1 - p) * (0.05 / 0.95) / (prev / (1 - prev))
    np.testing.assert_allclose(q, odds / (1 + odds), rtol=1e-6, atol=1e-9)
    assert math.isclose(low.config.train_prevalence, y.mean())
