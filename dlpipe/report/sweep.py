"""The sweep page: which setting, and why. Plain rows in (the sweep stage reads Optuna), HTML out.

A row: number, params {path: value}, value (the metric, None unless completed), status,
message, seconds, report (link), history (for the best five's curves).
"""

from __future__ import annotations

import math

import numpy as np

from dlpipe.report.pages import human, render_page
from dlpipe.report.plots import overlay_curves, subplots, to_pngs

LITTLE = 0.1  # an importance under this share "made little difference"


def ranked(rows: list[dict], maximize: bool) -> list[dict]:
    """Best first; trials without a value (pruned, diverged, failed, running) after them, by number."""
    scored = sorted((r for r in rows if r["value"] is not None), key=lambda r: r["value"], reverse=maximize)
    return scored + sorted((r for r in rows if r["value"] is None), key=lambda r: r["number"])


def verdict(rows: list[dict], importance: dict[str, float], kinds: dict[str, str], maximize: bool) -> str:
    """In words: what mattered most, where the best trials lie, what made little difference."""
    scored = ranked([r for r in rows if r["value"] is not None], maximize)
    if len(scored) < 2:
        return "too few completed trials to say what mattered"
    best = scored[:max(2, len(scored) // 4)]
    parts = []
    order = sorted(importance, key=importance.get, reverse=True)
    if order:
        parts.append(f"{order[0]} mattered most (importance {importance[order[0]]:.2f})")
    for key in order[:2] or list(kinds)[:2]:
        values = [r["params"][key] for r in best if key in r["params"]]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            low, high = min(values), max(values)
            where = human(low) if low == high else f"{human(low)} to {human(high)}"
            parts.append(f"the best {len(best)} trials had {key} {where}")
        elif values:
            parts.append(f"the best {len(best)} trials had {key} " + ", ".join(dict.fromkeys(map(str, values))))
    little = [key for key in order[1:] if importance[key] < LITTLE]
    if little:
        parts.append(f"{' and '.join(little)} made little difference")
    return "; ".join(parts)


def figures(rows: list[dict], kinds: dict[str, str], metric: str, maximize: bool) -> list[tuple[str, list[str]]]:
    """The metric against each parameter, the parallel coordinates, and the best five's learning curves."""
    scored = [r for r in rows if r["value"] is not None]
    out = []
    if scored:
        fig, axes = subplots(1, len(kinds), figsize=(5.4 * len(kinds), 3.8), squeeze=False)
        for ax, (key, kind) in zip(axes[0], kinds.items()):
            xs = [r["params"][key] for r in scored]
            ax.scatter([str(x) for x in xs] if kind == "choice" and not _numeric(xs) else xs,
                       [r["value"] for r in scored], color="#1f77b4", s=30)
            if kind == "log_range" or (kind == "choice" and _numeric(xs) and _spread(xs) > 20):
                ax.set_xscale("log")
            ax.set(xlabel=key, ylabel=metric, title=f"{metric} against {key}")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        out.append((f"{metric} against each parameter", to_pngs(fig)))
    if len(scored) >= 2 and len(kinds) >= 2:
        out.append(("Parallel coordinates (colour: the metric, brighter is better)",
                    to_pngs(_parallel(scored, kinds, metric, maximize))))
    best = [r for r in ranked(scored, maximize)[:5] if r.get("history")]
    curves = overlay_curves([(f"trial {r['number']}", r["history"]) for r in best])
    if curves:
        out.append(("Learning curves of the best five trials", curves))
    return out


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _spread(values) -> float:
    positive = [v for v in values if v > 0]
    return max(positive) / min(positive) if len(positive) == len(values) and positive else 0.0


def _parallel(rows: list[dict], kinds: dict[str, str], metric: str, maximize: bool):
    """One line per trial across one vertical axis per parameter (scaled to 0..1; log ranges on a log scale)."""
    keys = list(kinds)
    columns = []
    for key in keys:
        raw = [r["params"][key] for r in rows]
        if not _numeric(raw):
            labels = list(dict.fromkeys(map(str, raw)))
            raw = [labels.index(str(v)) for v in raw]
        values = np.log10(raw) if kinds[key] == "log_range" or (_numeric(raw) and _spread(raw) > 20) else \
            np.asarray(raw, dtype=float)
        span = values.max() - values.min()
        columns.append((values - values.min()) / span if span else np.full(len(values), 0.5))
    scores = np.asarray([r["value"] for r in rows], dtype=float)
    order = (scores - scores.min()) / ((scores.max() - scores.min()) or 1.0)
    shade = order if maximize else 1 - order
    fig, ax = subplots(figsize=(max(5.0, 2.2 * len(keys)), 3.8))
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i in np.argsort(shade):  # the best drawn last, on top
        ax.plot(range(len(keys)), [c[i] for c in columns], color=cmap(shade[i]), lw=2, alpha=0.85)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_title(f"trials by {metric}")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def render_sweep(context: dict) -> str:
    """The page's HTML (context: name, study, metric, maximize, rows, kinds, importance, best_yaml, ...)."""
    rows = ranked(context["rows"], context["maximize"])
    return render_page("sweep.html", **{**context, "rows": rows,
                                        "verdict": verdict(rows, context["importance"], context["kinds"],
                                                           context["maximize"]),
                                        "figures": figures(rows, context["kinds"], context["metric"],
                                                           context["maximize"]),
                                        "finite": lambda v: v is not None and math.isfinite(v)})
