"""Data drift between a reference profile (the training data) and a current one (production data).

A column is flagged only when **both** hold:

- the difference is *significant for the sample sizes*: numeric columns by the two-sample
  Kolmogorov–Smirnov test (asymptotic p-value, effective n = n₁n₂/(n₁+n₂)), with the sketches' rank
  error subtracted from the statistic first so sketch noise is never read as drift; categorical columns
  by the chi-square test of the 2 × k contingency table; p-values adjusted over the columns by
  Benjamini–Hochberg (false discovery rate ``alpha``);
- the *effect* is large enough to matter: numeric — the Wasserstein-1 distance between the two
  distributions divided by the reference standard deviation (``wasserstein_norm``: a shift of the
  whole distribution by 0.2σ gives 0.2) at least ``numeric_floor``; categorical — the Jensen–Shannon
  distance, base 2 (0 identical … 1 disjoint) at least ``categorical_floor``.

So a million rows do not flag a 0.01σ shift (too small), and 200 rows do not flag noise (not
significant).  Fewer than ``min_rows`` values on either side give "not enough data", not a verdict.
The dataset drifts when at least ``share`` of the tested columns drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from naiad.data.profile import ColumnProfile, Profile
from naiad.errors import InvalidValueError

DRIFT, NO_DRIFT, NOT_ENOUGH = "drift", "no drift", "not enough data"
_QS = (np.arange(400) + 0.5) / 400  # quantile levels for the Wasserstein integral
KS_CONVENTION = "two-sample Kolmogorov–Smirnov D minus the sketches' rank error, asymptotic p-value"
CHI2_CONVENTION = "chi-square test of the 2 × k table of category counts"
W_CONVENTION = "Wasserstein-1 distance / reference standard deviation, 400 quantiles"
JS_CONVENTION = "Jensen–Shannon distance, base 2, over the categories of both"


@dataclass
class ColumnDrift:
    column: str
    kind: str
    n_reference: int
    n_current: int
    test: str
    statistic: float
    p_value: float
    effect: str
    effect_size: float
    floor: float
    p_adjusted: float = math.nan
    verdict: str = NOT_ENOUGH
    conventions: dict[str, str] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return self.verdict == DRIFT


@dataclass
class DriftReport:
    columns: list[ColumnDrift]
    alpha: float
    share: float

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.verdict != NOT_ENOUGH]


    @property
    def drifted(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted) / len(self.tested) if self.tested else 0.0

    @property
    def verdict(self) -> str:
        if not self.tested:
            return NOT_ENOUGH
        return DRIFT if self.share_drifted >= self.share else NO_DRIFT

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "share_drifted": self.share_drifted, "share": self.share,
                "alpha": self.alpha, "columns": [c.__dict__ | {"drifted": c.drifted} for c in self.columns]}


def _kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution (the KS test's asymptotic null)."""
    if x <= 0:
        return 1.0
    from scipy.special import kolmogorov

    return float(kolmogorov(x))


def _numeric(ref: ColumnProfile, cur: ColumnProfile, floor: float) -> ColumnDrift:
    points = np.unique(np.concatenate([ref.quantiles(_QS), cur.quantiles(_QS)]))
    d_raw = float(np.max(np.abs(ref.cdf(points) - cur.cdf(points)))) if len(points) else 0.0
    d = max(0.0, d_raw - ref.rank_error() - cur.rank_error())
    n_eff = ref.count * cur.count / (ref.count + cur.count)
    p = _kolmogorov_sf(d * math.sqrt(n_eff))
    scale = ref.std
    if not scale > 0:
        iqr = float(np.subtract(*ref.quantiles(np.array([0.75, 0.25]))))
        scale = iqr / 1.349 if iqr > 0 else 1.0
    w = float(np.mean(np.abs(ref.quantiles(_QS) - cur.quantiles(_QS)))) / scale
    return ColumnDrift(ref.name, "numeric", ref.count, cur.count, "ks", d, p, "wasserstein_norm", w, floor,
                       conventions={"ks": KS_CONVENTION, "wasserstein_norm": W_CONVENTION})


def _categorical(ref: ColumnProfile, cur: ColumnProfile, floor: float) -> ColumnDrift:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2

    fr, fc = ref.frequencies(), cur.frequencies()
    # a sketch that lists every value (exact) says a category it lacks has count 0; one past its capacity
    # lists only the frequent ones, so a category it lacks may still be there.  Categories known on both
    # sides get a cell each; the rest (the long tail a full sketch no longer lists) is one "other" cell per
    # side — two sketches listing different parts of a long tail are not read as drift, and a category
    # that is new (or gone) still shows.
    exact_a, exact_b = sum(fr.values()) == ref.count, sum(fc.values()) == cur.count
    cats = sorted(c for c in set(fr) | set(fc) if (c in fr or exact_a) and (c in fc or exact_b))
    a = np.array([fr.get(c, 0) for c in cats], dtype=float)
    b = np.array([fc.get(c, 0) for c in cats], dtype=float)
    rest_a, rest_b = max(ref.count - a.sum(), 0.0), max(cur.count - b.sum(), 0.0)
    if rest_a or rest_b:
        a, b = np.append(a, rest_a), np.append(b, rest_b)
    table = np.vstack([a, b])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        stat, p = 0.0, 1.0
    else:
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
        stat = float(((table - expected) ** 2 / expected).sum())
        p = float(chi2.sf(stat, table.shape[1] - 1))
    js = float(jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum(), base=2)) if table.size else 0.0
    return ColumnDrift(ref.name, "categorical", ref.count, cur.count, "chi2", stat, p, "js_distance",
                       0.0 if math.isnan(js) else js, floor,
                       conventions={"chi2": CHI2_CONVENTION, "js_distance": JS_CONVENTION})


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Adjusted p-values (step-up, monotone, capped at 1)."""
    n = len(p_values)
    if not n:
        return []
    order = np.argsort(p_values)
    ranked = np.asarray(p_values, dtype=float)[order] * n / (np.arange(n) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


def compare(reference: Profile, current: Profile, *, columns: list[str] | None = None, alpha: float = 0.05,
            numeric_floor: float = 0.1, categorical_floor: float = 0.1, min_rows: int = 30,
            share: float = 0.5) -> DriftReport:
    """Drift of each column ``current`` and ``reference`` share (or of ``columns``)."""
    names = columns if columns is not None else [c for c in current.columns if c in reference.columns]
    results = []
    for name in names:
        ref, cur = reference.columns.get(name), current.columns.get(name)
        if ref is None or cur is None:
            continue
        if ref.count == 0 or cur.count == 0:
            kind = ref.kind if ref.count else cur.kind
            results.append(ColumnDrift(name, kind, ref.count, cur.count, "ks" if kind == "numeric" else "chi2",
                                       math.nan, math.nan, "wasserstein_norm" if kind == "numeric" else "js_distance",
                                       math.nan, numeric_floor if kind == "numeric" else categorical_floor))
            continue
        if ref.kind != cur.kind:  # numbers became text (or the reverse): drift, whatever the values
            results.append(ColumnDrift(name, cur.kind, ref.count, cur.count, "type", math.nan, 0.0, "type_changed",
                                       1.0, 0.0, verdict=DRIFT,
                                       conventions={"type": f"was {ref.kind}, now {cur.kind}"}))
            continue
        kind = ref.kind
        floor = numeric_floor if kind == "numeric" else categorical_floor
        if ref.count < min_rows or cur.count < min_rows or ref.sketch is None or cur.sketch is None:
            results.append(ColumnDrift(name, kind, ref.count, cur.count, "ks" if kind == "numeric" else "chi2",
                                       math.nan, math.nan, "wasserstein_norm" if kind == "numeric" else "js_distance",
                                       math.nan, floor))
            continue
        results.append(_numeric(ref, cur, floor) if kind == "numeric" else _categorical(ref, cur, floor))
    tested = [r for r in results if not math.isnan(r.p_value) and r.test != "type"]
    for r, adj in zip(tested, benjamini_hochberg([r.p_value for r in tested]), strict=True):
        r.p_adjusted = adj
        r.verdict = DRIFT if adj < alpha and r.effect_size >= r.floor else NO_DRIFT
    return DriftReport(results, alpha, share)


def histograms(reference: Profile, current: Profile, column: str, *, bins: int = 20) -> dict[str, Any]:
    """One column of two profiles as comparable histograms (shares, not counts): what a drift
    drill-down draws.

    Numeric columns share ``bins`` bins whose edges are the reference's quantiles (equal reference
    mass per bin, so a shift shows as bars leaving the flat line), widened to cover the current
    data's range; each share comes from the sketches' CDFs (within their rank error).  A numeric
    column with at most ``bins`` distinct values (a flag, a count) gets one bin per value instead,
    listed in ``values``.  Categorical
    columns share the categories either profile ranks among its 20 most frequent, plus "(other)".
    """
    ref, cur = reference.columns.get(column), current.columns.get(column)
    if ref is None or cur is None:
        missing = "reference" if ref is None else "current"
        raise InvalidValueError(f"column {column!r} is not in the {missing} profile.")
    out: dict[str, Any] = {"column": column, "kind": ref.kind, "reference_rows": ref.count, "current_rows": cur.count,
                           "reference_missing": ref.missing, "current_missing": cur.missing}
    if ref.count == 0 or cur.count == 0:  # only missing values on a side (its kind is then a guess): nothing to draw
        empty: dict[str, Any] = {"edges": []} if ref.kind == "numeric" else {"labels": []}
        return out | empty | {"reference": [], "current": []}
    if ref.kind != cur.kind:
        raise InvalidValueError(f"column {column!r} is {ref.kind} in the reference and {cur.kind} now.")
    if ref.kind == "numeric":
        lo = min(float(ref.sketch.get_min_value()), float(cur.sketch.get_min_value()))
        hi = max(float(ref.sketch.get_max_value()), float(cur.sketch.get_max_value()))
        probe = np.linspace(0.0, 1.0, 201)
        seen = np.unique(np.concatenate([ref.quantiles(probe), cur.quantiles(probe), [lo, hi]]))
        discrete = len(seen) <= bins  # a flag, a count, a rating: one bar per value, not ranges
        if discrete:
            gap = float(np.diff(seen).min()) / 2 if len(seen) > 1 else 0.5
            edges = np.concatenate([[seen[0] - gap], (seen[1:] + seen[:-1]) / 2, [seen[-1] + gap]])
        else:
            # inner edges at the reference's quantiles (equal reference mass per bin); the outer ones at
            # the true extremes of both sides (a sketch's 0 and 1 quantiles are not its min and max)
            inner = ref.quantiles(np.linspace(0.0, 1.0, bins + 1)[1:-1])
            edges = np.unique(np.concatenate([[lo], inner[(inner > lo) & (inner < hi)], [hi]]))

        def shares(col: ColumnProfile) -> list[float]:
            cdf = np.concatenate([[0.0], col.cdf(edges[1:-1]), [1.0]])
            return [float(x) for x in np.clip(np.diff(cdf), 0.0, 1.0)]

        found = {"edges": [float(e) for e in edges], "reference": shares(ref), "current": shares(cur)}
        return out | found | ({"values": [float(v) for v in seen]} if discrete else {})
    ref_f, cur_f = ref.frequencies(), cur.frequencies()
    top = sorted(set(sorted(ref_f, key=lambda k: -ref_f[k])[:20]) | set(sorted(cur_f, key=lambda k: -cur_f[k])[:20]))
    top.sort(key=lambda k: -(ref_f.get(k, 0) / ref.count + cur_f.get(k, 0) / cur.count))

    def cat_shares(freq: dict[str, int], n: int) -> list[float]:
        named = [freq.get(k, 0) / n for k in top]
        return [*named, max(0.0, 1.0 - sum(named))]

    return out | {"labels": [*top, "(other)"], "reference": cat_shares(ref_f, ref.count),
                  "current": cat_shares(cur_f, cur.count)}
