"""The sweep report's statistics against scipy / statsmodels / scikit-posthocs called directly and against
formulas computed here with numpy; its tables and figures against hand-checked content."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs as sp
from scipy import stats
from statsmodels.stats.anova import AnovaRM
from statsmodels.stats.multicomp import pairwise_tukeyhsd

from pose_pipeline.dlc import report

ITERATIONS = np.arange(25_000, 250_001, 25_000)


def groups_frame(samples: dict[str, np.ndarray], value: str = "rmse") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "backbone": np.repeat(list(samples), [len(v) for v in samples.values()]),
            value: np.concatenate(list(samples.values())),
        }
    )


@pytest.fixture
def normal_groups() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    samples = {
        name: rng.normal(mean, 1.0, 12) for name, mean in [("resnet50", 5.0), ("mobilenet", 6.5), ("hrnet", 8.0)]
    }
    # the preconditions of the parametric path, checked independently
    assert all(stats.shapiro(v).pvalue > 0.05 for v in samples.values())
    assert stats.levene(*samples.values()).pvalue > 0.05
    return samples


@pytest.fixture
def skewed_groups() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    samples = {name: shift + rng.lognormal(0.0, 1.5, 15) for name, shift in [("a", 0.0), ("b", 2.0), ("c", 6.0)]}
    assert any(stats.shapiro(v).pvalue < 0.05 for v in samples.values())
    return samples


def learning_frame(seed: int = 11, subjects: int = 3, noise: float = 0.01) -> pd.DataFrame:
    """y = 10 exp(-x / 50k) + 2, a random offset per subject and small noise per point."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(subjects):
        offset = rng.normal(0.0, 0.05)
        for x in ITERATIONS:
            rows.append(
                {"seed": s, "iterations": x, "error": 10 * np.exp(-x / 50_000) + 2 + offset + rng.normal(0, noise)}
            )
    return pd.DataFrame(rows)


# --- describe -----------------------------------------------------------------------------------------------------


def test_describe_matches_numpy_t_interval():
    df = pd.DataFrame({"g": ["a"] * 5 + ["b"] * 4 + ["c"], "v": [1.0, 2.0, 4.0, 4.5, 9.0, 3.0, np.nan, 3.5, 5.0, 7.0]})
    out = report.describe(df, "v", "g", confidence=0.9).set_index("g")

    a = np.array([1.0, 2.0, 4.0, 4.5, 9.0])
    half = stats.t.ppf(0.95, 4) * a.std(ddof=1) / math.sqrt(5)
    assert out.loc["a", "n"] == 5
    assert out.loc["a", "sd"] == pytest.approx(a.std(ddof=1))
    assert out.loc["a", "ci_low"] == pytest.approx(a.mean() - half)
    assert out.loc["a", "ci_high"] == pytest.approx(a.mean() + half)
    assert out.loc["a", "median"] == 4.0
    # the NaN is left out and counted
    assert (out.loc["b", "n"], out.loc["b", "n_missing"]) == (3, 1)
    assert out.loc["b", "mean"] == pytest.approx(np.mean([3.0, 3.5, 5.0]))
    # a single observation: a mean but no spread or interval
    assert out.loc["c", "mean"] == 7.0
    assert np.isnan(out.loc["c", ["sd", "ci_low", "ci_high"]].astype(float)).all()


def test_describe_several_keys_and_constant_group():
    df = pd.DataFrame({"b": ["x", "x", "y", "y"], "split": ["train"] * 4, "v": [2.0, 2.0, 1.0, 3.0]})
    out = report.describe(df, "v", ["b", "split"])
    assert list(out.columns[:2]) == ["b", "split"]
    assert (out.loc[0, "ci_low"], out.loc[0, "ci_high"]) == (2.0, 2.0)


def test_describe_missing_column_names_it():
    with pytest.raises(ValueError, match="'nope'"):
        report.describe(pd.DataFrame({"g": ["a"], "v": [1.0]}), "nope", "g")


# --- compare_groups -----------------------------------------------------------------------------------------------


def test_normal_groups_take_anova_and_tukey(normal_groups):
    result = report.compare_groups(groups_frame(normal_groups), "rmse", "backbone")

    assert result.test == "anova"
    f, p = stats.f_oneway(*normal_groups.values())
    assert result.statistic == pytest.approx(f)
    assert result.p_value == pytest.approx(p, rel=1e-6)
    values = np.concatenate(list(normal_groups.values()))
    grand = values.mean()
    ss_between = sum(len(v) * (v.mean() - grand) ** 2 for v in normal_groups.values())
    assert result.effect_size == pytest.approx(ss_between / ((values - grand) ** 2).sum())
    assert result.effect_size_name == "eta_squared"
    assert result.normality["normal"].all()

    df = groups_frame(normal_groups)
    summary = pairwise_tukeyhsd(df["rmse"], df["backbone"]).summary().data  # rows of group1, group2, diff, p-adj
    expected = {(row[0], row[1]): row[3] for row in summary[1:]}
    got = {(r.group_a, r.group_b): r.p_adj for r in result.posthoc.itertuples()}
    assert got.keys() == expected.keys()
    for pair, p_adj in expected.items():
        assert got[pair] == pytest.approx(p_adj, abs=5e-5)  # statsmodels' summary rounds to 4 decimals


def test_hedges_g_and_differences_are_b_minus_a(normal_groups):
    result = report.compare_groups(groups_frame(normal_groups), "rmse", "backbone")
    row = result.posthoc.set_index(["group_a", "group_b"]).loc[("hrnet", "mobilenet")]
    a, b = normal_groups["hrnet"], normal_groups["mobilenet"]
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    correction = 1 - 3 / (4 * (len(a) + len(b)) - 9)
    assert row["hedges_g"] == pytest.approx((b.mean() - a.mean()) / pooled * correction, rel=1e-6)
    assert row["mean_diff"] == pytest.approx(b.mean() - a.mean())
    assert row["hedges_g"] < 0  # hrnet's mean (8) is above mobilenet's (6.5)


def test_skewed_groups_take_kruskal_and_dunn(skewed_groups):
    df = groups_frame(skewed_groups, "fps")
    result = report.compare_groups(df, "fps", "backbone", p_adjust="holm")

    assert result.test == "kruskal"
    h, p = stats.kruskal(*skewed_groups.values())
    assert (result.statistic, result.p_value) == (pytest.approx(h), pytest.approx(p))
    n = len(df)
    assert result.effect_size == pytest.approx(h / (n - 1))  # Tomczak's H / ((n² - 1) / (n + 1)), simplified
    dunn = sp.posthoc_dunn(df, val_col="fps", group_col="backbone", p_adjust="holm")
    for r in result.posthoc.itertuples():
        assert r.p_adj == pytest.approx(dunn.loc[r.group_a, r.group_b])
        assert r.significant == (dunn.loc[r.group_a, r.group_b] < 0.05)
    assert len(result.posthoc) == 3


def test_bonf_alias_reaches_dunn(skewed_groups):
    df = groups_frame(skewed_groups, "fps")
    result = report.compare_groups(df, "fps", "backbone", p_adjust="bonf")
    dunn = sp.posthoc_dunn(df, val_col="fps", group_col="backbone", p_adjust="bonferroni")
    assert result.posthoc.loc[0, "p_adj"] == pytest.approx(dunn.loc["a", "b"])


def test_groups_too_small_for_shapiro_count_as_not_normal(normal_groups):
    samples = {**normal_groups, "tiny": np.array([5.0, 5.4])}
    result = report.compare_groups(groups_frame(samples), "rmse", "backbone")
    tiny = result.normality.set_index("group").loc["tiny"]
    assert not tiny["normal"] and np.isnan(tiny["W"])
    assert result.test == "kruskal"
    assert result.statistic == pytest.approx(stats.kruskal(*samples.values()).statistic)


def test_single_observation_group_gives_descriptives_and_no_omnibus(normal_groups):
    samples = {**normal_groups, "single": np.array([4.0])}
    result = report.compare_groups(groups_frame(samples), "rmse", "backbone")
    assert result.test == "none"
    assert np.isnan(result.statistic) and np.isnan(result.p_value) and not result.significant
    assert "single" in result.note
    assert result.descriptives.set_index("backbone").loc["single", "mean"] == 4.0
    assert result.posthoc.empty


def test_nan_values_are_dropped_and_noted(normal_groups):
    df = groups_frame(normal_groups)
    with_nan = pd.concat([df, pd.DataFrame({"backbone": ["hrnet", "resnet50"], "rmse": [np.nan, np.nan]})])
    clean = report.compare_groups(df, "rmse", "backbone")
    result = report.compare_groups(with_nan, "rmse", "backbone")
    assert result.statistic == pytest.approx(clean.statistic)
    assert "2 missing" in result.note
    assert result.descriptives["n_missing"].sum() == 2


def test_subject_rows_are_averaged_first(normal_groups):
    df = groups_frame(normal_groups)
    df["seed"] = np.tile(np.arange(6), len(df) // 6)  # two rows per seed and backbone
    per_seed = df.groupby(["backbone", "seed"], as_index=False)["rmse"].mean()
    result = report.compare_groups(df, "rmse", "backbone", subject="seed")
    assert result.descriptives["n"].tolist() == [6, 6, 6]
    expected = report.compare_groups(per_seed, "rmse", "backbone")
    assert result.statistic == pytest.approx(expected.statistic)
    assert "averaged" in result.note


def test_to_dict_is_json_without_nan(normal_groups):
    samples = {**normal_groups, "single": np.array([4.0])}
    for df in (groups_frame(normal_groups), groups_frame(samples)):
        content = json.loads(json.dumps(report.compare_groups(df, "rmse", "backbone").to_dict(), allow_nan=False))
        assert content["test"] in {"anova", "none"}
        assert len(content["descriptives"]) == df["backbone"].nunique()


def test_compare_groups_rejects_bad_input(normal_groups):
    df = groups_frame(normal_groups)
    with pytest.raises(ValueError, match="at least 2 groups"):
        report.compare_groups(df[df["backbone"] == "hrnet"], "rmse", "backbone")
    with pytest.raises(ValueError, match="'pck'"):
        report.compare_groups(df, "pck", "backbone")
    with pytest.raises(ValueError, match="'seed'"):
        report.compare_groups(df, "rmse", "backbone", subject="seed")
    with pytest.raises(ValueError, match="numeric"):
        report.compare_groups(df.astype({"rmse": str}), "rmse", "backbone")
    all_nan_but_one = df.assign(rmse=np.where(df["backbone"] == "hrnet", df["rmse"], np.nan))
    with pytest.raises(ValueError, match="with observations"):
        report.compare_groups(all_nan_but_one, "rmse", "backbone")


# --- repeated measures --------------------------------------------------------------------------------------------


def rm_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    subjects, levels = 6, [200, 400, 600, 800]
    return pd.DataFrame(
        {
            "seed": np.repeat(np.arange(subjects), len(levels)),
            "frames": np.tile(levels, subjects),
            "error": np.tile([9.0, 7.0, 6.5, 6.4], subjects)
            + np.repeat(rng.normal(0, 1, subjects), len(levels))
            + rng.normal(0, 0.6, subjects * len(levels)),
        }
    )


def test_rm_anova_matches_statsmodels_and_posthoc_bonferroni():
    df = rm_frame()
    result = report.repeated_measures(df, "error", within="frames", subject="seed")
    table = AnovaRM(df, depvar="error", subject="seed", within=["frames"]).fit().anova_table
    assert result.statistic == pytest.approx(table["F Value"].iloc[0])
    assert result.p_value == pytest.approx(table["Pr > F"].iloc[0])
    assert result.p_gg_corr is not None and result.p_gg_corr >= result.p_value

    wide = df.pivot(index="seed", columns="frames", values="error")
    pairs = list(combinations(wide.columns, 2))
    expected = {(a, b): min(1.0, stats.ttest_rel(wide[a], wide[b]).pvalue * len(pairs)) for a, b in pairs}
    p_corr = report._column(result.posthoc, "p_corr", "p-corr")
    got = {(a, b): p for a, b, p in zip(result.posthoc["A"], result.posthoc["B"], p_corr)}
    assert got.keys() == expected.keys()
    for pair, p in expected.items():
        assert got[pair] == pytest.approx(p)
    json.dumps(result.to_dict(), allow_nan=False)


def test_rm_anova_leaves_out_incomplete_subjects():
    df = rm_frame()
    df.loc[(df["seed"] == 2) & (df["frames"] == 400), "error"] = np.nan
    result = report.repeated_measures(df, "error", within="frames", subject="seed")
    complete = df[df["seed"] != 2]
    table = AnovaRM(complete, depvar="error", subject="seed", within=["frames"]).fit().anova_table
    assert result.statistic == pytest.approx(table["F Value"].iloc[0])
    assert "1 missing" in result.note and "left out" in result.note


def test_rm_anova_needs_two_subjects():
    df = rm_frame()
    with pytest.raises(ValueError, match="2 'seed'"):
        report.repeated_measures(df[df["seed"] == 0], "error", within="frames", subject="seed")


# --- plateau ------------------------------------------------------------------------------------------------------


def expected_relative(mean_curve: pd.Series, tolerance: float):
    xs, ys = mean_curve.index.to_numpy(), mean_curve.to_numpy()
    for i in range(len(xs) - 1):
        if max((ys[i] - ys[j]) / abs(ys[i]) for j in range(i + 1, len(xs))) <= tolerance:
            return xs[i]
    return None


def expected_posthoc(df: pd.DataFrame, alpha: float):
    wide = df.pivot(index="seed", columns="iterations", values="error")
    xs = list(wide.columns)
    m = len(xs) * (len(xs) - 1) // 2
    p = {(a, b): min(1.0, stats.ttest_rel(wide[a], wide[b]).pvalue * m) for a, b in combinations(xs, 2)}
    for i, x in enumerate(xs[:-1]):
        if all(p[(x, later)] >= alpha for later in xs[i + 1 :]):
            return x
    return None


def test_plateau_of_an_exponential_learning_curve():
    df = learning_frame()
    plateau = report.detect_plateau(df, subject="seed", tolerance=0.08)

    mean_curve = df.groupby("iterations")["error"].mean()
    assert plateau.x_relative == expected_relative(mean_curve, 0.08)
    # noise-free: (10e^-x/50k - 10e^-5) / (10e^-x/50k + 2) is 0.10 at 175k and 0.053 at 200k
    assert plateau.x_relative == 200_000
    assert plateau.x_posthoc is not None
    assert plateau.x_posthoc == expected_posthoc(df, 0.05)
    assert plateau.repeated_measures is not None
    json.dumps(plateau.to_dict(), allow_nan=False)


@pytest.mark.parametrize("alpha", [0.01, 0.2])
def test_posthoc_plateau_follows_alpha(alpha):
    df = learning_frame()
    expected = expected_posthoc(df, alpha)
    assert expected != expected_posthoc(df, 0.05)  # this data set separates the three levels
    assert report.detect_plateau(df, subject="seed", alpha=alpha).x_posthoc == expected


def test_plateau_of_one_curve_has_no_posthoc():
    one = learning_frame(subjects=1)
    plateau = report.detect_plateau(one.drop(columns="seed"), tolerance=0.08)
    assert plateau.x_relative == 200_000
    assert plateau.x_posthoc is None and "subject" in plateau.note
    plateau = report.detect_plateau(one, subject="seed", tolerance=0.08)
    assert plateau.x_posthoc is None and "2 needed" in plateau.note


def test_plateau_rules_by_hand():
    curve = pd.DataFrame({"iterations": [1, 2, 3, 4, 5], "error": [10.0, 5.0, 4.0, 3.95, 3.94]})
    # at 3: 4.0 -> 3.94 is 1.5%; at 2: 5.0 -> 3.94 is 21%
    assert report.detect_plateau(curve, tolerance=0.02).x_relative == 3
    pck = curve.assign(error=[0.5, 0.8, 0.9, 0.91, 0.915])  # higher is better: at 3, +0.015 / 0.9 = 1.7%
    assert report.detect_plateau(pck, tolerance=0.02, lower_is_better=False).x_relative == 3
    assert report.detect_plateau(pck, tolerance=0.02).x_relative == 1  # as an error it only gets worse
    steady = curve.assign(error=[10.0, 9.0, 8.0, 7.0, 6.0])
    plateau = report.detect_plateau(steady, tolerance=0.02)
    assert plateau.x_relative is None and "still improves" in plateau.note


def test_plateau_drops_nan_and_rejects_bad_input():
    curve = pd.DataFrame({"iterations": [1, 2, 3, 4], "error": [10.0, np.nan, 4.0, 3.99]})
    plateau = report.detect_plateau(curve)
    assert plateau.x_relative == 3 and "1 missing" in plateau.note
    with pytest.raises(ValueError, match="'loss'"):
        report.detect_plateau(curve, y="loss")
    with pytest.raises(ValueError, match="2 or more"):
        report.detect_plateau(curve.iloc[:1])


# --- tables -------------------------------------------------------------------------------------------------------


@pytest.fixture
def sweep() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "backbone": ["r50"] * 3 + ["mnv2"] * 3 + ["hrnet"] * 3,
            "rmse": [5.0, 6.0, 7.0, 8.0, 9.0, np.nan, 3.0, 3.5, 4.0],
            "fps": [50.0, 52.0, 54.0, 120.0, 118.0, 122.0, 20.0, 21.0, 22.0],
        }
    )


def test_backbone_table(sweep):
    table = report.backbone_table(sweep, metrics={"rmse": "RMSE (px)", "fps": "FPS"})
    assert table.index.tolist() == ["hrnet", "r50", "mnv2"]  # by mean RMSE, ascending
    assert table.loc["r50", "RMSE (px)"] == f"6.00 ± {np.std([5.0, 6.0, 7.0], ddof=1):.2f}"
    assert table.loc["mnv2", "RMSE (px)"] == f"8.50 ± {np.std([8.0, 9.0], ddof=1):.2f}"
    assert table.loc["mnv2", "rmse_n"] == 2
    assert table.loc["hrnet", "fps_mean"] == pytest.approx(21.0)
    assert table.loc["hrnet", "fps_sd"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'map'"):
        report.backbone_table(sweep, metrics={"map": "mAP"})


def test_normalized_metrics(sweep):
    table = report.backbone_table(sweep.assign(mem=4.0), metrics={"rmse": "RMSE", "fps": "FPS", "mem": "Memory"})
    norm = report.normalized_metrics(table, {"rmse": False, "fps_mean": True, "mem": False})
    assert norm.loc["hrnet", "rmse"] == 1.0 and norm.loc["mnv2", "rmse"] == 0.0
    assert norm.loc["r50", "rmse"] == pytest.approx((8.5 - 6.0) / (8.5 - 3.5))
    assert norm.loc["mnv2", "fps_mean"] == 1.0 and norm.loc["hrnet", "fps_mean"] == 0.0
    assert (norm["mem"] == 1.0).all()  # constant column
    with pytest.raises(ValueError, match="'pck'"):
        report.normalized_metrics(table, {"pck": True})


# --- figures ------------------------------------------------------------------------------------------------------


def test_metric_heatmap(sweep, tmp_path):
    table = report.backbone_table(sweep, metrics={"rmse": "RMSE", "fps": "FPS"})
    norm = report.normalized_metrics(table, {"rmse": False, "fps": True})
    fig = report.metric_heatmap(norm)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (3, 2)
    assert len(ax.texts) == 6
    assert [t.get_text() for t in ax.get_yticklabels()] == ["hrnet", "r50", "mnv2"]
    fig.savefig(tmp_path / "heatmap.png")
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_learning_curves(tmp_path):
    base = learning_frame()
    curves = pd.concat(
        [
            base.assign(backbone=b, split=s, error=base["error"] + k)
            for k, (b, s) in enumerate([("r50", "train"), ("r50", "test"), ("hrnet", "train"), ("hrnet", "test")])
        ]
    )
    curves.loc[curves.index[0], "error"] = np.nan
    fig = report.learning_curves(curves)
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    assert len(ax.collections) == 4  # a shaded interval per line: 3 seeds each
    styles = {line.get_color(): [] for line in ax.lines}
    for line in ax.lines:
        styles[line.get_color()].append(line.get_linestyle())
    assert all(sorted(s) == ["-", "--"] for s in styles.values()) and len(styles) == 2
    expected = curves[(curves["backbone"] == "hrnet") & (curves["split"] == "test")].groupby("iterations")["error"]
    assert any(np.allclose(line.get_ydata(), expected.mean().to_numpy()) for line in ax.lines)
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0

    single = report.learning_curves(curves[curves["seed"] == 0])
    assert len(single.axes[0].lines) == 4 and len(single.axes[0].collections) == 0
    train = report.learning_curves(curves[(curves["seed"] == 0) & (curves["split"] == "train")], style=None)
    assert len(train.axes[0].lines) == 2
