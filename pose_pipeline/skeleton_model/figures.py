"""The study's figure: position-error and joint-speed histograms per method, drawn from a pandas frame (one row
per 3D result, with ``triangulation_method``, ``errors`` (mm) and ``speeds`` (m/s) arrays, ``threshold_mm``), as
`pose_pipeline.schema.skeleton_model.regime_validation` returns it."""

from __future__ import annotations

import numpy as np


def regime_histograms(frame, bins: int = 40, axes=None):
    """Two panels: the distribution of position errors (the threshold marked) and of joint speeds, one step
    histogram per method (density, so methods with different point counts compare). Returns the figure."""
    import matplotlib.pyplot as plt

    if axes is None:
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        figure = axes[0].figure
    rows = frame.sort_values("triangulation_method")
    errors = [np.asarray(e, float) for e in rows["errors"]]
    speeds = [np.asarray(s, float) for s in rows["speeds"]]
    error_bins = np.linspace(0, max([np.percentile(e, 99) for e in errors if e.size] or [1.0]), bins)
    speed_bins = np.linspace(0, max([np.percentile(s, 99) for s in speeds if s.size] or [1.0]), bins)
    for method, e, s in zip(rows["triangulation_method"], errors, speeds):
        # a row without errors (the ground truth's own speeds) draws only its speeds; same colour in both panels
        colour = axes[1].hist(np.clip(s, 0, speed_bins[-1]), speed_bins, density=True, histtype="step",
                              label=method)[2][0].get_edgecolor()  # fmt: skip
        if e.size:
            axes[0].hist(np.clip(e, 0, error_bins[-1]), error_bins, density=True, histtype="step", label=method,
                         color=colour)  # fmt: skip
    for threshold in rows["threshold_mm"].unique():
        axes[0].axvline(threshold, color="grey", linestyle=":")
    axes[0].set(xlabel="position error (mm)", ylabel="density", title="position errors")
    axes[1].set(xlabel="joint speed (m/s)", ylabel="density", title="joint speeds")
    axes[1].legend(fontsize="small")
    figure.tight_layout()
    return figure
