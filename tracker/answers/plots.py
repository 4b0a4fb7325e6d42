"""Charts for the HTML report, drawn as SVG with matplotlib.

matplotlib lives here. It is used headless (the Agg/SVG backends, no display needed),
and its SVG keeps text as `<text>` elements (`svg.fonttype = none`) so that charts stay
small, sharp and searchable. Mathtext is switched off: a publisher named `$x$` is a
name, not a formula.
"""

from __future__ import annotations

import io
import statistics

import matplotlib

matplotlib.use("Agg")  # no display: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

from tracker.terminal import inline  # noqa: E402

_STYLE = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",  # matplotlib ships DejaVu Sans: no font lookups, the same everywhere
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_TICKS = [(1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"),
          (86400, "1 d"), (7 * 86400, "1 wk"), (30 * 86400, "30 d")]
MAX_ROWS = 25


def _svg(figure: plt.Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", transparent=True)
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.find("<svg"):]


def delay_plot(delays: dict[str, list[int]]) -> str | None:
    """An SVG of each republisher's copy delays (box plot and every copy as a dot, log time axis).

    Republishers are ordered fastest median first; at most MAX_ROWS with the most copies
    are drawn. Delays under one second (or negative, where a credit overrode the clock)
    are drawn at one second. None when there is nothing to draw.
    """
    rows = sorted(delays.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:MAX_ROWS]
    rows = [(name, values) for name, values in rows if values]
    if not rows:
        return None
    rows.sort(key=lambda kv: (statistics.median(kv[1]), kv[0]), reverse=True)  # fastest at the top
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(8.5, 0.9 + 0.42 * len(rows)))
        data = [[max(1, v) for v in values] for _, values in rows]
        axes.boxplot(data, orientation="horizontal", widths=0.5, showfliers=False, medianprops={"color": "#b45309", "linewidth": 2},
                     boxprops={"color": "#475569"}, whiskerprops={"color": "#475569"}, capprops={"color": "#475569"})
        for index, values in enumerate(data, start=1):
            # A deterministic spread of the dots, so that equal delays do not hide each other.
            offsets = [((k * 0.618) % 1 - 0.5) * 0.35 for k in range(len(values))]
            axes.scatter(values, [index + o for o in offsets], s=12, color="#1d4ed8", alpha=0.55, linewidths=0, zorder=3)
        axes.set_yticks(range(1, len(rows) + 1), [f"{inline(name)} ({len(values)})" for name, values in rows])
        axes.set_xscale("log")
        top = max(max(v) for v in data)
        axes.set_xlim(0.8, max(120, top * 1.6))
        ticks = [(t, label) for t, label in _TICKS if t <= max(120, top * 1.6)]
        axes.xaxis.set_major_locator(FixedLocator([t for t, _ in ticks]))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.set_xticklabels([label for _, label in ticks])
        axes.set_xlabel("delay after the parent (log scale)")
        axes.grid(axis="x", color="#e2e8f0", linewidth=0.8)
        axes.set_axisbelow(True)
        return _svg(figure)

