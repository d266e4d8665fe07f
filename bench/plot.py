"""Plot echo throughput by message size from ``bench/echo.py --json`` output.

python bench/echo.py --json echo.json
python bench/plot.py echo.json docs/_static/echo.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    results = json.loads(source.read_text())
    results = results.get("results", results)  # older files held the results alone
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, mode in zip(axes, ("pipelined", "latency"), strict=True):
        cases = [case for case in results if case.startswith(f"{mode}, 1 conn")]
        sizes = [case.split(", ")[-1] for case in cases]
        libs = sorted({lib for case in cases for lib in results[case]})
        width = 0.8 / max(len(libs), 1)
        for i, lib in enumerate(libs):
            values = [results[case].get(lib, {}).get("msgs_per_s", 0) / 1000 for case in cases]
            ax.bar(
                [x + i * width for x in range(len(cases))],
                values,
                width,
                label=lib,
                edgecolor="black" if lib.startswith("ours") else None,
            )
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(cases))], sizes)
        ax.set_title(f"echo, {mode}, 1 connection")
        # Logarithmic: rates differ a hundredfold between 32 B and 1 MiB.
        ax.set_yscale("log")
        ax.set_ylabel("thousand messages / s (log scale)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
