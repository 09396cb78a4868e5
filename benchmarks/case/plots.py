"""PNG figures of the case benchmark (matplotlib, Agg backend, no display needed).

* ``case-main.png``: at the main size, median wall time and wire bytes per job and method, with min–max bars;
* ``case-scale.png``: wall time and wire bytes against dataset rows for pushdown vs app tier, log-log (only
  when the run has more than one size).

The names start with the results file's stem (``case`` for ``results/case.json``, ``case-lane`` for
``results/case-lane.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {
    "pushdown": "#2b7bba",
    "pushdown_lane": "#a6cee3",
    "app_tier": "#d95f02",
    "airflow_sql": "#7570b3",
    "airflow_pgcron": "#1b9e77",
}
LABELS = {
    "pushdown": "pgcron pushdown, per-submission job",
    "pushdown_lane": "pgcron pushdown, warm lane",
    "app_tier": "app-tier service",
    "airflow_sql": "Airflow SQLExecuteQueryOperator",
    "airflow_pgcron": "Airflow PgCronOperator",
}
TITLES = {
    "expire_reservations": "Expire stale reservations",
    "retention_purge": "Retention purge",
    "refresh_rollup": "Materialized-view refresh",
}


def _stat(data: dict[str, Any], metric: str) -> tuple[float, float, float]:
    s = data["summary"][metric]
    return s["median"], s["median"] - s["min"], s["max"] - s["median"]


def main_figure(results: dict[str, Any], out: Path, prefix: str = "case") -> Path:
    rows = str(results["meta"]["main_rows"])
    job_names = list(results["runs"])
    methods = [m for m in COLORS if any(rows in results["runs"][j].get(m, {}) for j in job_names)]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    width = 0.8 / len(methods)
    for ax, metric, ylabel in (
        (axes[0], "wall_s", "wall time, s (median, min–max)"),
        (axes[1], "wire_bytes", "bytes between client and server"),
        (axes[2], "client_cpu_s", "client-side CPU, s"),
    ):
        for i, method in enumerate(methods):
            xs, ys, lo, hi = [], [], [], []
            for j, job in enumerate(job_names):
                data = results["runs"][job].get(method, {}).get(rows)
                if data is None:
                    continue
                median, below, above = _stat(data, metric)
                xs.append(j + (i - (len(methods) - 1) / 2) * width)
                ys.append(max(median, 0.001))  # a log axis cannot show 0 s of CPU
                lo.append(below)
                hi.append(above)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, color=COLORS[method], label=LABELS[method])
        ax.set_xticks(range(len(job_names)), [TITLES.get(j, j).replace(" ", "\n", 1) for j in job_names])
        ax.set_ylabel(ylabel)
        # Seconds compare best on a linear axis; bytes and CPU span orders of magnitude.
        ax.set_yscale("linear" if metric == "wall_s" else "log")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Three data-local jobs at {int(rows):,} rows: inside PostgreSQL vs from the app tier")
    fig.tight_layout()
    path = out / f"{prefix}-main.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scale_figure(results: dict[str, Any], out: Path, prefix: str = "case") -> Path:
    job_names = list(results["runs"])
    fig, axes = plt.subplots(2, len(job_names), figsize=(4.2 * len(job_names), 7), squeeze=False)
    for col, job in enumerate(job_names):
        for row, (metric, ylabel) in enumerate((("wall_s", "wall time, s"), ("wire_bytes", "wire bytes"))):
            ax = axes[row][col]
            for method in ("pushdown", "pushdown_lane", "app_tier"):
                by_size = results["runs"][job].get(method, {})
                sizes = sorted(by_size, key=int)
                if not sizes:
                    continue
                xs = [int(s) for s in sizes]
                ax.plot(
                    xs,
                    [by_size[s]["summary"][metric]["median"] for s in sizes],
                    marker="o",
                    color=COLORS[method],
                    label=LABELS[method],
                )
                if metric == "wall_s" and method == "pushdown":
                    server = [by_size[s]["summary"].get("server_s", {}).get("median") for s in sizes]
                    if all(v is not None for v in server):
                        ax.plot(
                            xs,
                            server,
                            linestyle="--",
                            marker=".",
                            color=COLORS[method],
                            label="pushdown: the run itself, in the database",
                        )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.set_xlabel("rows in the table")
            ax.set_ylabel(ylabel)
            if row == 0:
                ax.set_title(TITLES.get(job, job))
    axes[0][0].legend(fontsize=8)
    single = sorted(
        {
            int(size)
            for methods in results["runs"].values()
            for by_size in methods.values()
            for size, data in by_size.items()
            if len(data["samples"]) == 1
        }
    )
    note = f"; {', '.join(f'{s:,}' for s in single)} rows: one run" if single else ""
    fig.suptitle(f"How each cost grows with the data (median of repeated runs{note})")
    fig.tight_layout()
    path = out / f"{prefix}-scale.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    """``python -m case.plots RESULTS_JSON OUT_DIR [EXTRA…]``: redraw the figures from saved runs."""
    import json
    import sys

    if len(argv) < 2:
        print("usage: python -m case.plots RESULTS_JSON OUT_DIR [EXTRA_SIZES_JSON ...]", file=sys.stderr)
        return 2
    results = json.loads(Path(argv[0]).read_text())
    for extra_path in argv[2:]:
        # Extra sizes (e.g. a --large run) join the scale curves; the main figure keeps the main run.
        extra = json.loads(Path(extra_path).read_text())
        for job, methods in extra["runs"].items():
            for method, by_size in methods.items():
                for size, data in by_size.items():
                    results["runs"].setdefault(job, {}).setdefault(method, {}).setdefault(size, data)
    for path in make_all(results, Path(argv[1]), prefix=Path(argv[0]).stem):
        print(path)
    return 0


def make_all(results: dict[str, Any], out: Path, prefix: str = "case") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [main_figure(results, out, prefix)]
    sizes = {size for methods in results["runs"].values() for by_size in methods.values() for size in by_size}
    if len(sizes) > 1:
        paths.append(scale_figure(results, out, prefix))
    return paths


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
