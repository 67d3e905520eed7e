"""The benchmark as a picture: latency against jobs, log-log, per query with and without indexes.

matplotlib is an optional extra (``pip install collector[bench]``); it is imported
only here, with the Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class PlotUnavailableError(Exception):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailableError(
            "--plot needs matplotlib: pip install 'collector[bench]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_available() -> None:
    """Raise PlotUnavailableError now, before a long run, if a plot cannot be drawn."""
    _pyplot()


def write_plot(result: dict[str, Any], path: Path) -> None:
    """A PNG: one colour per query; dashed without indexes, solid with (repository)."""
    plt = _pyplot()
    sizes = sorted(result["sizes"], key=lambda size: size["jobs"])
    jobs = [size["jobs"] for size in sizes]
    fig, ax = plt.subplots(figsize=(12, 7), dpi=100)
    palette = [*plt.get_cmap("tab10").colors, "black", "navy", "maroon", "teal"]
    for number, name in enumerate(sizes[0]["queries"]):
        colour = palette[number % len(palette)]
        before = [size["queries"][name]["plan_no_index_ms"] for size in sizes]
        after = [size["queries"][name]["repo_ms"] for size in sizes]
        ax.plot(jobs, before, linestyle="--", marker="o", color=colour, alpha=0.7)
        ax.plot(jobs, after, linestyle="-", marker="s", color=colour, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("jobs (files: about 2.5 per job)")
    ax.set_ylabel("median latency, ms")
    ax.set_title(
        f"collector: dashboard queries, {result['mix']} mix, {result['engine']}\n"
        "dashed: the plan's SQL without indexes; solid: the repository method with indexes"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
