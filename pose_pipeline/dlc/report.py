"""Statistics, tables and figures for DeepLabCut sweep results (pure functions on pandas DataFrames).

Every test statistic comes from a library: scipy (Shapiro-Wilk, Levene, Kruskal-Wallis, t intervals),
statsmodels (Tukey HSD), scikit-posthocs (Dunn) and pingouin (one-way and repeated-measures ANOVA, paired
post-hoc tests, Hedges' g). Missing (NaN) observations are dropped and the results' ``note`` says how many.

Decisions, in one place:

- Normality: Shapiro-Wilk per group at ``alpha``. A group with fewer than 3 observations, or whose values are all
  equal, cannot be tested (Shapiro-Wilk needs n >= 3 and a spread) and counts as *not normal*, so the
  distribution-free path is taken: Kruskal-Wallis stays valid whatever the distribution, ANOVA would not.
- Homogeneity of variances: Levene's test with scipy's default ``center="median"`` (Brown-Forsythe), robust to
  non-normal data. One-way ANOVA + Tukey HSD only when every group is normal *and* Levene's p > ``alpha``;
  otherwise Kruskal-Wallis + Dunn.
- Omnibus effect sizes: eta squared = SS_between / SS_total for ANOVA (pingouin.anova's ``np2``, which in a
  one-way design equals eta squared); epsilon squared for Kruskal-Wallis, E²_R = H / ((n² - 1) / (n + 1))
  (Tomczak & Tomczak 2014, "The need to report effect size estimates revisited", Trends in Sport Sciences 21(1),
  eq. 12), n = number of observations.
- Pairwise effect sizes: Hedges' g from pingouin.compute_effsize (bias-corrected Cohen's d with pooled SD).
- Post-hoc tests are reported whatever the omnibus result; Tukey HSD controls the family-wise error itself, so
  ``p_adjust`` applies to Dunn's test only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pingouin as pg
import scikit_posthocs as sp
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats
from scipy.integrate import IntegrationWarning
from statsmodels.stats.multicomp import pairwise_tukeyhsd

from ..jsonable import jsonable

DESCRIBE_COLUMNS = ["n", "mean", "sd", "sem", "ci_low", "ci_high", "median", "n_missing"]
POSTHOC_COLUMNS = ["group_a", "group_b", "mean_diff", "median_diff", "p_adj", "significant", "hedges_g"]
LINESTYLES = ["-", "--", ":", "-."]
# pingouin and statsmodels name the same corrections differently; accept either spelling for both tests
_TO_STATSMODELS = {"bonf": "bonferroni", "none": None}
_TO_PINGOUIN = {"bonferroni": "bonf", None: "none"}


# --- helpers ------------------------------------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: list[str], what: str = "data") -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} has no column {', '.join(map(repr, missing))}; its columns: {list(df.columns)}")


def _require_numeric(df: pd.DataFrame, column: str) -> None:
    if not pd.api.types.is_numeric_dtype(df[column]):
        raise ValueError(f"column {column!r} must be numeric, its dtype is {df[column].dtype}")


def _column(table: pd.DataFrame, *names: str) -> pd.Series | None:
    """The first of ``names`` present in ``table`` (pingouin 0.7 renamed ``p-unc`` to ``p_unc`` etc.)."""
    for name in names:
        if name in table.columns:
            return table[name]
    return None


def _sorted_labels(values) -> list:
    labels = list(pd.unique(values))
    try:
        return sorted(labels)
    except TypeError:
        return labels


def _summary(values: np.ndarray, confidence: float) -> dict[str, float]:
    n = len(values)
    mean = float(np.mean(values)) if n else math.nan
    sd = float(np.std(values, ddof=1)) if n > 1 else math.nan
    sem = float(stats.sem(values)) if n > 1 else math.nan
    if n < 2:
        ci = (math.nan, math.nan)
    elif sem == 0:
        ci = (mean, mean)  # scipy returns NaN for a zero scale; a constant sample's interval is the point
    else:
        ci = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    median = float(np.median(values)) if n else math.nan
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "sem": sem,
        "ci_low": float(ci[0]),
        "ci_high": float(ci[1]),
        "median": median,
    }


# --- descriptive statistics ---------------------------------------------------------------------------------------


def describe(df: pd.DataFrame, value: str, by: str | list[str], confidence: float = 0.95) -> pd.DataFrame:
    """Per group of ``by``: n, mean, sd, sem, a t-based confidence interval, median and n_missing.

    NaN values are left out (``n_missing`` counts them); rows whose group label is missing are left out.
    The interval is ``scipy.stats.t.interval(confidence, n - 1, mean, sem)``; NaN when n < 2. One row per group,
    with the ``by`` columns first, sorted by them.
    """
    keys = [by] if isinstance(by, str) else list(by)
    _require_columns(df, [value, *keys])
    _require_numeric(df, value)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rows = []
    for key, group in df.groupby(keys, sort=True, observed=True):
        values = group[value].to_numpy(dtype=float)
        missing = np.isnan(values)
        row = dict(zip(keys, key))
        row.update(_summary(values[~missing], confidence), n_missing=int(missing.sum()))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *DESCRIBE_COLUMNS])


# --- comparing independent groups ---------------------------------------------------------------------------------


@dataclass
class GroupComparison:
    """Omnibus test, post-hoc comparisons and descriptives of one metric across groups (see the module doc)."""

    test: str  # "anova", "kruskal", or "none" when no omnibus test could be run (``note`` says why)
    statistic: float
    p_value: float
    effect_size: float
    effect_size_name: str | None
    normality: pd.DataFrame  # per group: group, n, W, p, normal
    levene_p: float
    posthoc: pd.DataFrame  # POSTHOC_COLUMNS; differences and Hedges' g are group_b minus group_a
    descriptives: pd.DataFrame
    alpha: float = 0.05
    p_adjust: str | None = None
    note: str = ""

    @property
    def significant(self) -> bool:
        """Whether the omnibus test rejects equality at ``alpha`` (False when it could not be run)."""
        return bool(self.p_value < self.alpha) if math.isfinite(self.p_value) else False

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable content (NaN as None, tables as lists of records), e.g. for a database json column."""
        return jsonable(
            {
                "test": self.test,
                "statistic": self.statistic,
                "p_value": self.p_value,
                "significant": self.significant,
                "effect_size": self.effect_size,
                "effect_size_name": self.effect_size_name,
                "levene_p": self.levene_p,
                "alpha": self.alpha,
                "p_adjust": self.p_adjust,
                "note": self.note,
                "normality": self.normality,
                "posthoc": self.posthoc,
                "descriptives": self.descriptives,
            }
        )


def _normality(samples: dict[Any, np.ndarray], alpha: float) -> pd.DataFrame:
    rows = []
    for label, values in samples.items():
        if len(values) < 3 or np.ptp(values) == 0:
            rows.append({"group": label, "n": len(values), "W": math.nan, "p": math.nan, "normal": False})
            continue
        w, p = stats.shapiro(values)
        rows.append({"group": label, "n": len(values), "W": float(w), "p": float(p), "normal": bool(p > alpha)})
    return pd.DataFrame(rows, columns=["group", "n", "W", "p", "normal"])


def _group_samples(df: pd.DataFrame, value: str, group: str, subject: str | None) -> tuple[pd.DataFrame, list[str]]:
    """Observations to compare (one per subject and group when ``subject`` is given) and notes about them."""
    notes = []
    n_missing = int(df[value].isna().sum())
    if n_missing:
        notes.append(f"{n_missing} missing (NaN) {value!r} values dropped")
    if subject is not None:
        # several rows per subject (e.g. frames of one seed's model) are not independent observations
        df = df.groupby([group, subject], observed=True)[value].mean().reset_index()
        notes.append(f"values averaged per {subject!r} within each group: n counts {subject!r} values")
    return df, notes


def _omnibus_blocker(samples: dict[Any, np.ndarray]) -> str | None:
    small = [str(label) for label, values in samples.items() if len(values) < 2]
    if small:
        return f"no omnibus test: group(s) {', '.join(small)} have a single observation (no within-group variance)"
    if np.ptp(np.concatenate(list(samples.values()))) == 0:
        return "no omnibus test: all observations are equal"
    return None


def compare_groups(
    df: pd.DataFrame,
    value: str,
    group: str,
    *,
    subject: str | None = None,
    alpha: float = 0.05,
    p_adjust: str | None = "holm",
) -> GroupComparison:
    """Compare ``value`` across the groups of ``group``: ANOVA + Tukey HSD, or Kruskal-Wallis + Dunn.

    The parametric path is taken when every group passes Shapiro-Wilk and Levene's test (see the module doc for
    the rules with small groups). With ``subject`` (e.g. the seed), rows are first averaged per subject and group
    so each subject is one observation. ``p_adjust`` is the correction for Dunn's test (statsmodels names, or
    pingouin's "bonf"). Raises ValueError with fewer than 2 groups; with a group of a single observation the
    omnibus statistics are NaN, ``test`` is "none" and ``note`` explains.
    """
    _require_columns(df, [value, group] + ([subject] if subject else []))
    _require_numeric(df, value)
    labels = _sorted_labels(df[group].dropna())
    if len(labels) < 2:
        raise ValueError(f"compare_groups needs at least 2 groups in column {group!r}, found {len(labels)}: {labels}")
    data, notes = _group_samples(df, value, group, subject)
    descriptives = describe(data, value, group)
    data = data.dropna(subset=[value, group])
    samples = {label: data.loc[data[group] == label, value].to_numpy(dtype=float) for label in labels}
    empty = [str(label) for label, values in samples.items() if len(values) == 0]
    if empty:
        notes.append(f"group(s) {', '.join(empty)} have no observations and are left out")
        samples = {label: values for label, values in samples.items() if len(values)}
    if len(samples) < 2:
        raise ValueError(f"compare_groups needs at least 2 groups with observations of {value!r}, found {len(samples)}")
    normality = _normality(samples, alpha)
    common = {"normality": normality, "descriptives": descriptives, "alpha": alpha}
    blocker = _omnibus_blocker(samples)
    if blocker:
        nan, no_posthoc = math.nan, pd.DataFrame(columns=POSTHOC_COLUMNS)
        note = "; ".join([blocker, *notes])
        return GroupComparison("none", nan, nan, nan, None, levene_p=nan, posthoc=no_posthoc, **common, note=note)
    levene_p = float(stats.levene(*samples.values()).pvalue)
    data = data[data[group].isin(list(samples))]
    if bool(normality["normal"].all()) and levene_p > alpha:
        result = _anova(data, value, group, samples, alpha)
    else:
        notes.insert(0, "not every group normal (Shapiro-Wilk) or variances unequal (Levene): Kruskal-Wallis")
        result = _kruskal(data, value, group, samples, alpha, p_adjust)
    return GroupComparison(**result, levene_p=levene_p, **common, note="; ".join(notes))


def _pairwise_frame(samples: dict[Any, np.ndarray], p_values: dict[tuple, float], alpha: float) -> pd.DataFrame:
    rows = []
    for a, b in combinations(samples, 2):
        x, y = samples[a], samples[b]
        rows.append(
            {
                "group_a": a,
                "group_b": b,
                "mean_diff": float(np.mean(y) - np.mean(x)),
                "median_diff": float(np.median(y) - np.median(x)),
                "p_adj": p_values[(a, b)],
                "significant": bool(p_values[(a, b)] < alpha),
                "hedges_g": float(pg.compute_effsize(y, x, paired=False, eftype="hedges")),
            }
        )
    return pd.DataFrame(rows, columns=POSTHOC_COLUMNS)


def _anova(data, value, group, samples, alpha) -> dict[str, Any]:
    table = pg.anova(data=data, dv=value, between=group, detailed=True)
    tukey = pairwise_tukeyhsd(data[value].to_numpy(dtype=float), data[group].to_numpy(), alpha=alpha)
    # statsmodels orders pairs as np.triu_indices over its sorted groupsunique, i.e. itertools.combinations order
    pairs = list(combinations(tukey.groupsunique.tolist(), 2))
    p_values = {}
    for (a, b), p in zip(pairs, tukey.pvalues):
        p_values[(a, b)] = p_values[(b, a)] = float(p)
    return {
        "test": "anova",
        "statistic": float(_column(table, "F").iloc[0]),
        "p_value": float(_column(table, "p_unc", "p-unc").iloc[0]),
        "effect_size": float(_column(table, "np2").iloc[0]),  # one-way: partial eta² = eta² = SS_b / SS_total
        "effect_size_name": "eta_squared",
        "posthoc": _pairwise_frame(samples, p_values, alpha),
        "p_adjust": "tukey",
    }


def _kruskal(data, value, group, samples, alpha, p_adjust) -> dict[str, Any]:
    h, p = stats.kruskal(*samples.values())
    n = sum(len(v) for v in samples.values())
    method = _TO_STATSMODELS.get(p_adjust, p_adjust)
    dunn = sp.posthoc_dunn(data, val_col=value, group_col=group, p_adjust=method)
    p_values = {(a, b): float(dunn.loc[a, b]) for a in samples for b in samples if a != b}
    return {
        "test": "kruskal",
        "statistic": float(h),
        "p_value": float(p),
        "effect_size": float(h / ((n**2 - 1) / (n + 1))),  # epsilon², Tomczak & Tomczak (2014)
        "effect_size_name": "epsilon_squared",
        "posthoc": _pairwise_frame(samples, p_values, alpha),
        "p_adjust": method,
    }


# --- repeated measures --------------------------------------------------------------------------------------------


@dataclass
class RepeatedMeasures:
    """One-way repeated-measures ANOVA (pingouin.rm_anova) and paired post-hoc tests (pingouin.pairwise_tests).

    ``p_value`` is uncorrected; ``p_gg_corr`` is Greenhouse-Geisser corrected (None with 2 levels, where
    sphericity holds trivially). ``sphericity`` is Mauchly's verdict, None where it is not computable (2 levels,
    or fewer subjects than levels). ``anova`` and ``posthoc`` are pingouin's tables as returned.
    """

    anova: pd.DataFrame
    posthoc: pd.DataFrame
    statistic: float
    p_value: float
    p_gg_corr: float | None
    sphericity: bool | None
    effect_size: float
    effect_size_name: str = "generalized_eta_squared"
    p_adjust: str = "bonf"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable content (NaN as None, tables as lists of records)."""
        return jsonable(
            {
                "statistic": self.statistic,
                "p_value": self.p_value,
                "p_gg_corr": self.p_gg_corr,
                "sphericity": self.sphericity,
                "effect_size": self.effect_size,
                "effect_size_name": self.effect_size_name,
                "p_adjust": self.p_adjust,
                "note": self.note,
                "anova": self.anova,
                "posthoc": self.posthoc,
            }
        )


def _complete_cases(df: pd.DataFrame, value: str, within: str, subject: str) -> tuple[pd.DataFrame, list[str]]:
    """One value per subject and level, only subjects observed at every level (listwise deletion), and notes."""
    notes = []
    n_missing = int(df[value].isna().sum())
    if n_missing:
        notes.append(f"{n_missing} missing (NaN) {value!r} values dropped")
    data = df.dropna(subset=[value, within, subject])
    if data.duplicated([subject, within]).any():
        notes.append(f"several rows per {subject!r} and {within!r}: averaged")
    data = data.groupby([subject, within], observed=True)[value].mean().reset_index()
    levels = data[within].nunique()
    counts = data.groupby(subject, observed=True)[within].nunique()
    incomplete = counts.index[counts < levels].tolist()
    if incomplete:
        notes.append(f"{subject!r} {incomplete} not observed at every {within!r} level: left out")
        data = data[~data[subject].isin(incomplete)]
    return data, notes


def repeated_measures(
    df: pd.DataFrame, value: str, within: str, subject: str, *, p_adjust: str = "bonf"
) -> RepeatedMeasures:
    """Repeated-measures ANOVA of ``value`` over the levels of ``within`` and paired post-hoc tests.

    Subjects missing a level (after dropping NaN values) are left out, as rm-ANOVA needs complete cases.
    Post-hoc: pingouin.pairwise_tests (paired t-tests, Hedges' g) with ``padjust=p_adjust`` (pingouin names,
    or "bonferroni"). Raises ValueError with fewer than 2 levels or fewer than 2 complete subjects.
    """
    _require_columns(df, [value, within, subject])
    _require_numeric(df, value)
    data, notes = _complete_cases(df, value, within, subject)
    n_levels, n_subjects = data[within].nunique(), data[subject].nunique()
    if n_levels < 2 or n_subjects < 2:
        raise ValueError(
            f"repeated_measures needs at least 2 {within!r} levels and 2 {subject!r} values observed at every "
            f"level; found {n_levels} levels and {n_subjects} complete subjects"
        )
    anova = pg.rm_anova(data=data, dv=value, within=within, subject=subject, correction=True, detailed=True)
    method = _TO_PINGOUIN.get(p_adjust, p_adjust)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)  # from the Bayes factor column, which we do not use
        posthoc = pg.pairwise_tests(
            data=data, dv=value, within=within, subject=subject, padjust=method, effsize="hedges"
        )
    first = anova.iloc[0]
    p_gg = _column(anova, "p_GG_corr", "p-GG-corr")
    sphericity = _column(anova, "sphericity")
    mauchly_ok = sphericity is not None and n_subjects > n_levels - 1
    if sphericity is not None and not mauchly_ok:
        notes.append("Mauchly's test not computable with fewer subjects than levels: use p_gg_corr")
    return RepeatedMeasures(
        anova=anova,
        posthoc=posthoc,
        statistic=float(first["F"]),
        p_value=float(_column(anova, "p_unc", "p-unc").iloc[0]),
        p_gg_corr=float(p_gg.iloc[0]) if p_gg is not None else None,
        sphericity=bool(sphericity.iloc[0]) if mauchly_ok else None,
        effect_size=float(_column(anova, "ng2").iloc[0]),
        p_adjust=method,
        note="; ".join(notes),
    )


# --- plateau of a learning curve ----------------------------------------------------------------------------------


@dataclass
class Plateau:
    """Where a learning curve stops improving, by two rules (see ``detect_plateau``); None = not found."""

    x_relative: float | None
    x_posthoc: float | None
    mean_curve: pd.DataFrame
    tolerance: float
    alpha: float
    repeated_measures: RepeatedMeasures | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable content (NaN as None, tables as lists of records)."""
        return jsonable(
            {
                "x_relative": self.x_relative,
                "x_posthoc": self.x_posthoc,
                "tolerance": self.tolerance,
                "alpha": self.alpha,
                "note": self.note,
                "mean_curve": self.mean_curve,
                "repeated_measures": self.repeated_measures.to_dict() if self.repeated_measures else None,
            }
        )


def _relative_plateau(xs: np.ndarray, ys: np.ndarray, tolerance: float, lower_is_better: bool):
    sign = 1.0 if lower_is_better else -1.0
    for i in range(len(xs) - 1):  # the last x has nothing after it to confirm a plateau
        gain = sign * (ys[i] - ys[i + 1 :])
        scale = abs(ys[i])
        relative = gain / scale if scale > 0 else np.where(gain > 0, np.inf, 0.0)
        if np.all(relative <= tolerance):
            return xs[i].item()
    return None


def _posthoc_plateau(xs: np.ndarray, posthoc: pd.DataFrame, alpha: float):
    # pingouin leaves out the corrected column when there is a single pair (nothing to correct)
    p_corr = _column(posthoc, "p_corr", "p-corr", "p_unc", "p-unc")
    p = {}
    for a, b, value in zip(posthoc["A"], posthoc["B"], p_corr):
        p[(a, b)] = p[(b, a)] = value
    for i in range(len(xs) - 1):
        # NaN (e.g. identical paired differences) is no evidence of a difference
        if all(not p[(xs[i], later)] < alpha for later in xs[i + 1 :]):
            return xs[i].item()
    return None


def detect_plateau(
    curve: pd.DataFrame,
    *,
    x: str = "iterations",
    y: str = "error",
    subject: str | None = None,
    tolerance: float = 0.02,
    alpha: float = 0.05,
    lower_is_better: bool = True,
) -> Plateau:
    """The first ``x`` from which ``y`` stops improving, by two rules reported side by side.

    - relative: on the mean curve (mean over ``subject`` values when given), the first x_i such that at no later
      x_j does y improve on y(x_i) by more than ``tolerance`` * |y(x_i)|.
    - posthoc (needs ``subject`` with at least 2 subjects at every x): the first x_i whose y does not differ
      significantly (Bonferroni-adjusted paired t-tests from ``repeated_measures``, p >= ``alpha``) from y at any
      later x_j, in either direction.

    The last x never counts: nothing later confirms it, so a rule that only the last x satisfies gives None.
    ``lower_is_better=False`` for scores such as PCK.
    """
    _require_columns(curve, [x, y] + ([subject] if subject else []), "curve")
    _require_numeric(curve, y)
    notes = []
    n_missing = int(curve[y].isna().sum())
    if n_missing:
        notes.append(f"{n_missing} missing (NaN) {y!r} values dropped")
    data = curve.dropna(subset=[x, y] + ([subject] if subject else []))
    if subject:
        data = data.groupby([subject, x], observed=True)[y].mean().reset_index()
    mean_curve = data.groupby(x, sort=True)[y].mean().reset_index()
    if len(mean_curve) < 2:
        raise ValueError(f"detect_plateau needs observations at 2 or more {x!r} values, found {len(mean_curve)}")
    xs, ys = mean_curve[x].to_numpy(), mean_curve[y].to_numpy(dtype=float)
    x_relative = _relative_plateau(xs, ys, tolerance, lower_is_better)
    if x_relative is None:
        notes.append(f"relative: y still improves by more than {tolerance:.0%} before the last {x!r}")
    rm = _plateau_test(data, x, y, subject, notes)
    x_posthoc = _posthoc_plateau(xs, rm.posthoc, alpha) if rm is not None else None
    if rm is not None and x_posthoc is None:
        notes.append(f"posthoc: y still differs significantly from a later {x!r} up to the last one")
    return Plateau(x_relative, x_posthoc, mean_curve, tolerance, alpha, rm, "; ".join(notes))


def _plateau_test(data: pd.DataFrame, x: str, y: str, subject: str | None, notes: list[str]):
    """The repeated-measures analysis behind the posthoc rule, or None (with a note) where it cannot be run."""
    if subject is None:
        notes.append("posthoc: not computable without a subject column")
        return None
    fewest = int(data.groupby(x)[subject].nunique().min())
    if fewest < 2:
        notes.append(f"posthoc: not computable, some {x!r} has {fewest} {subject!r} value(s), 2 needed")
        return None
    try:
        rm = repeated_measures(data, y, within=x, subject=subject, p_adjust="bonf")
    except ValueError as error:
        notes.append(f"posthoc: not computable, {error}")
        return None
    if rm.note:
        notes.append(f"posthoc: {rm.note}")
    return rm


# --- tables -------------------------------------------------------------------------------------------------------


def _mean_sd(mean: float, sd: float, decimals: int) -> str:
    if not math.isfinite(mean):
        return "–"
    if not math.isfinite(sd):
        return f"{mean:.{decimals}f}"  # a single observation has no SD
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}"


def backbone_table(
    df: pd.DataFrame, *, group: str = "backbone", metrics: dict[str, str], decimals: int = 2, ascending: bool = True
) -> pd.DataFrame:
    """The "Table 2" of a sweep: one row per group (the index), per metric a "mean ± sd" column named by its display name.

    ``metrics`` maps a metric column to its display name. Numeric columns ``{metric}_mean``, ``{metric}_sd``
    and ``{metric}_n`` (non-missing observations; NaN values are left out) follow each display column. Rows
    are sorted by the first metric's mean (``ascending``), groups without a value last.
    """
    if not metrics:
        raise ValueError("backbone_table needs at least one metric in metrics")
    _require_columns(df, [group, *metrics])
    parts = []
    for metric, display in metrics.items():
        d = describe(df, metric, group).set_index(group)
        part = pd.DataFrame(index=d.index)
        part[display] = [_mean_sd(m, s, decimals) for m, s in zip(d["mean"], d["sd"])]
        part[f"{metric}_mean"], part[f"{metric}_sd"], part[f"{metric}_n"] = d["mean"], d["sd"], d["n"]
        parts.append(part)
    table = pd.concat(parts, axis=1)
    first = next(iter(metrics))
    return table.sort_values(f"{first}_mean", ascending=ascending, na_position="last", kind="stable")


def normalized_metrics(table: pd.DataFrame, higher_is_better: dict[str, bool]) -> pd.DataFrame:
    """Min-max normalise each metric to [0, 1] with 1 = best; a constant column becomes 1.0, NaN stays NaN.

    Keys of ``higher_is_better`` are columns of ``table``, or metric names whose ``{metric}_mean`` column
    (from ``backbone_table``) is; the result has one column per key, named by the key, and ``table``'s index.
    """
    if not higher_is_better:
        raise ValueError("normalized_metrics needs at least one metric in higher_is_better")
    columns = {key: key if key in table.columns else f"{key}_mean" for key in higher_is_better}
    missing = [key for key, column in columns.items() if column not in table.columns]
    if missing:
        names = ", ".join(f"{key!r} (nor {key}_mean)" for key in missing)
        raise ValueError(f"table has no column {names}; its columns: {list(table.columns)}")
    result = pd.DataFrame(index=table.index)
    for key, column in columns.items():
        _require_numeric(table, column)
        values = table[column].astype(float)
        low, high = values.min(), values.max()
        if not high > low:
            result[key] = values.where(values.isna(), 1.0)
        elif higher_is_better[key]:
            result[key] = (values - low) / (high - low)
        else:
            result[key] = (high - values) / (high - low)
    return result


# --- figures ------------------------------------------------------------------------------------------------------


def metric_heatmap(normalized: pd.DataFrame, *, decimals: int = 2, cmap: str = "viridis") -> Figure:
    """Annotated heatmap of ``normalized_metrics`` output: a row per group, a column per metric, 1 = best."""
    if not isinstance(normalized, pd.DataFrame) or normalized.empty:
        raise ValueError("metric_heatmap needs a non-empty DataFrame (rows groups, columns metrics)")
    values = normalized.to_numpy(dtype=float)
    rows, cols = values.shape
    fig = Figure(figsize=(1.2 * cols + 2.5, 0.45 * rows + 1.5), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), vmin=0.0, vmax=1.0, cmap=cmap, aspect="auto")
    for i in range(rows):
        for j in range(cols):
            v = values[i, j]
            text = "–" if np.isnan(v) else f"{v:.{decimals}f}"
            colour = "white" if np.isnan(v) or v < 0.5 else "black"  # readable on viridis' dark and light ends
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(cols), [str(c) for c in normalized.columns], rotation=30, ha="right")
    ax.set_yticks(range(rows), [str(r) for r in normalized.index])
    fig.colorbar(image, ax=ax, label="normalised (1 = best)")
    return fig


def learning_curves(
    curves: pd.DataFrame,
    *,
    x: str = "iterations",
    y: str = "error",
    hue: str = "backbone",
    style: str | None = "split",
    confidence: float = 0.95,
) -> Figure:
    """Mean ``y`` over ``x``, a colour per ``hue`` and a line style per ``style`` (e.g. train solid, test dashed).

    Rows sharing hue, style and x (e.g. seeds) are averaged; where several are present a shaded t-based
    ``confidence`` interval (``describe``) surrounds the line. NaN values are left out. Style levels take
    solid, dashed, dotted, dash-dot in the order they first appear in ``curves``; ``style=None``: all solid.
    """
    _require_columns(curves, [x, y, hue] + ([style] if style else []), "curves")
    _require_numeric(curves, y)
    hues = _sorted_labels(curves[hue].dropna())
    styles = list(pd.unique(curves[style].dropna())) if style else [None]  # first seen is solid
    colours = [f"C{i % 10}" for i in range(len(hues))]
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for colour, h in zip(colours, hues):
        for k, s in enumerate(styles):
            mask = curves[hue] == h if s is None else (curves[hue] == h) & (curves[style] == s)
            d = describe(curves[mask], y, x, confidence).dropna(subset=["mean"])
            if d.empty:
                continue
            ax.plot(d[x], d["mean"], color=colour, linestyle=LINESTYLES[k % len(LINESTYLES)])
            if (d["n"] > 1).any():
                ax.fill_between(d[x], d["ci_low"], d["ci_high"], color=colour, alpha=0.2, linewidth=0)
    handles = [Line2D([], [], color=c, label=str(h)) for c, h in zip(colours, hues)]
    if style:
        handles += [
            Line2D([], [], color="grey", linestyle=LINESTYLES[k % 4], label=str(s)) for k, s in enumerate(styles)
        ]
    ax.legend(handles=handles, fontsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return fig
