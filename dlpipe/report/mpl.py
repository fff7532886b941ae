"""Charts drawn by matplotlib (the `plots` extra): the very Chart objects the built-in SVG draws (report/svg.py),
so the two never disagree. `dlpipe figures` saves them as PDF, PNG or SVG files in any matplotlib style;
`report: {charts: matplotlib}` embeds them in the report as SVG. Imported only by those two.
"""

from __future__ import annotations

import io
import math
import re

from dlpipe.report.svg import Chart

EXTRA = "pip install 'dlpipe[plots]'"
COLUMN = (3.4, 2.5)  # inches: one column of a two-column paper
WIDE = (5.4, 3.0)  # the report's charts (540 x 300 px at 100 dpi)
# The report's text sizes (points): at least 11 px when a chart is drawn 381 px wide on a 420 px phone.
PAGE_FONTS = {"font.size": 13, "axes.titlesize": 13, "axes.labelsize": 13, "xtick.labelsize": 13,
              "ytick.labelsize": 13, "legend.fontsize": 12.5}


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no window), fonts embedded in PDFs; ImportError naming
    the extra."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"matplotlib is not installed: {EXTRA}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["pdf.fonttype"] = 42  # TrueType fonts, embedded: journals refuse Type 3
    plt.rcParams["svg.fonttype"] = "none"  # text stays text in an SVG (smaller, searchable)
    return plt


def figure(chart: Chart, size: tuple[float, float] = COLUMN):
    """The chart as a matplotlib Figure: its lines (or points), rules, log axes, limits, labels and legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    unlog = (lambda xs: [10 ** x if math.isfinite(x) else math.nan for x in xs]) if chart.log_x else list
    for line in chart.lines:
        ys = [y if isinstance(y, (int, float)) and math.isfinite(y) and (y > 0 or not chart.log) else math.nan
              for y in line.ys]
        if line.radius > 0:
            ax.scatter(unlog(line.xs), ys, s=(line.radius * 1.5) ** 2, color=line.colour, alpha=line.opacity,
                       label=line.label or None, linewidths=0)
        else:
            ax.plot(unlog(line.xs), ys, color=line.colour, linewidth=line.width * 0.6, alpha=line.opacity,
                    linestyle=_dashes(line.dash), marker="o" if line.markers else None, markersize=2.5,
                    label=line.label or None)
    for rule in chart.rules:
        where = 10 ** rule.at if chart.log_x and rule.vertical else rule.at
        draw = ax.axvline if rule.vertical else ax.axhline
        draw(where, color=rule.colour, linestyle=_dashes(rule.dash), linewidth=1.2, label=rule.label or None)
    if chart.log:
        ax.set_yscale("log")
    if chart.log_x:
        ax.set_xscale("log")
    if chart.ylim:
        ax.set_ylim(*chart.ylim)
    if chart.integer_x:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(chart.title)
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    if chart.legend and any(line.label for line in chart.lines) or chart.rules:
        ax.legend(frameon=False)
    if chart.note:
        ax.text(0.5, 0.5, chart.note, transform=ax.transAxes, ha="center", va="center", color="#d62728")
    return fig


def heatmap(matrix: list[list[float]], classes: list[str], title: str, size: tuple[float, float] = COLUMN):
    """A confusion matrix: true class down, predicted across, counts in the cells."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90 if len(classes) > 5 else 0, fontsize="x-small")
    ax.set_yticks(range(len(classes)), classes, fontsize="x-small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize="medium")
    if len(classes) <= 12:
        high = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize="xx-small",
                        color="white" if value > high / 2 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def bars(names: list[str], series: dict[str, list[float]], title: str, size: tuple[float, float] = COLUMN):
    """Grouped bars: one group per name (a class), one bar per series (precision, recall, F1)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    width = 0.8 / max(len(series), 1)
    for k, (label, values) in enumerate(series.items()):
        ax.bar([i + k * width for i in range(len(names))], values, width, label=label)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(names))], names,
                  rotation=90 if len(names) > 5 else 0, fontsize="x-small")
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="x-small", frameon=False)
    return fig


def barh(names: list[str], values: list[float], title: str, x_label: str, size: tuple[float, float] = COLUMN):
    """Horizontal bars, the first on top (the importance of each column)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(size[0], max(size[1], 0.22 * len(names) + 0.8)), layout="constrained")
    ax.barh(range(len(names)), [max(v, 0.0) for v in values], color="#1f77b4")
    ax.set_yticks(range(len(names)), names, fontsize="x-small")
    ax.invert_yaxis()
    ax.set_xlabel(x_label)
    ax.set_title(title, fontsize="medium")
    return fig


def tiles(found: list[dict], title: str, size: tuple[float, float] = COLUMN):
    """The most confidently wrong test images, each beside its saliency map (where the network looked), captioned
    true / predicted / confidence: the report's tiles, from their PNGs."""
    import base64

    plt = pyplot()
    pairs = 2 if any(t.get("saliency") for t in found) else 1
    columns = max(1, min(len(found), 4 // pairs))
    rows = -(-len(found) // columns)
    fig, axes = plt.subplots(rows, columns * pairs, figsize=(size[0], size[0] / (columns * pairs) * rows * 1.25),
                             layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, tile in enumerate(found):
        row, col = divmod(i, columns)
        for k, key in enumerate(("png", "saliency")[:pairs]):
            if tile.get(key):
                image = plt.imread(io.BytesIO(base64.b64decode(tile[key])), format="png")
                axes[row][col * pairs + k].imshow(image, cmap="gray" if image.ndim == 2 else None,
                                                  interpolation="nearest")
        axes[row][col * pairs].set_title(f"{tile['true']} as {tile['predicted']} {tile['confidence']}",
                                          fontsize="x-small")
    fig.suptitle(title, fontsize="medium")
    return fig


def svg(chart: Chart) -> str:
    """The chart drawn by matplotlib as inline SVG text for an HTML page (scales to its box, as the built-in's)."""
    plt = pyplot()
    with plt.rc_context(PAGE_FONTS):
        fig = figure(chart, WIDE)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
        plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', text, count=1)
    return text.replace("<svg", f'<svg role="img" aria-label="{_attribute(chart.title)}"', 1)


def _attribute(text: str) -> str:
    from html import escape

    return escape(text, quote=True)


def _dashes(dash: str):
    """An SVG dash array ("6 4") as matplotlib's (offset, (on, off, ...)); solid when empty."""
    if not dash:
        return "-"
    return (0, tuple(float(part) / 2 for part in dash.split()))
