"""The sweep page: which setting, and why. Plain rows in (the sweep stage reads Optuna), HTML out.

A row: number, params {path: value}, value (the metric, None unless completed), status,
message, seconds, report (link), history (for the best five's curves).
"""

from __future__ import annotations

import math


from dlpipe.report.pages import human, render_page
from dlpipe.report.overlay import overlay_curves
from dlpipe.report.parallel import numeric, parallel_svg
from dlpipe.report.svg import Chart, Line

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
    rest = scored[len(best):]
    little = [key for key in order[1:] if importance[key] < LITTLE]  # said once, below, never with a range
    for key in [k for k in order[:2] or list(kinds)[:2] if k not in little]:
        values = [r["params"][key] for r in best if key in r["params"]]
        others = [r["params"][key] for r in rest if key in r["params"]]
        if values and numeric(values) and numeric(others):
            low, high = min(values), max(values)
            if not any(v < low or v > high for v in others):
                continue  # the best trials' range holds the rest too: it separates nothing
            where = human(low) if low == high else f"{human(low)} to {human(high)}"
            parts.append(f"the best {len(best)} trials had {key} {where}")
        elif values and set(map(str, others)) - set(map(str, values)):  # some category only the rest had
            parts.append(f"the best {len(best)} trials had {key} " + ", ".join(dict.fromkeys(map(str, values))))
    if little:
        parts.append(f"{' and '.join(little)} made little difference")
    return "; ".join(parts)


def figures(rows: list[dict], kinds: dict[str, str], metric: str, maximize: bool) -> list[tuple[str, list[str]]]:
    """The metric against each parameter, the parallel coordinates, and the best five's learning curves (SVG)."""
    scored = [r for r in rows if r["value"] is not None]
    out = []
    if scored:
        out.append((f"{metric} against each parameter", [_against(scored, key, kind, metric)
                                                          for key, kind in kinds.items()]))
    if len(scored) >= 2 and len(kinds) >= 2:
        out.append(("Parallel coordinates: one line per trial, coloured by the metric",
                    [parallel_svg([r["params"] for r in scored], [r["value"] for r in scored], list(kinds),
                                  {k: _logged(kind, [r["params"][k] for r in scored]) for k, kind in kinds.items()},
                                  metric, maximize)]))
    best = [r for r in ranked(scored, maximize)[:5] if r.get("history")]
    curves = overlay_curves([(f"trial {r['number']}", r["history"]) for r in best])
    if curves:
        out.append(("Learning curves of the best five trials", curves))
    return out


def _spread(values) -> float:
    positive = [v for v in values if v > 0]
    return max(positive) / min(positive) if len(positive) == len(values) and positive else 0.0


def _logged(kind: str, values) -> bool:
    return kind == "log_range" or (numeric(values) and _spread(values) > 20)


def _against(rows: list[dict], key: str, kind: str, metric: str) -> str:
    """The metric of each trial against one parameter: a log10 axis for log ranges, categories numbered."""
    raw = [r["params"][key] for r in rows]
    label = key
    if not numeric(raw):
        names = list(dict.fromkeys(map(str, raw)))
        xs = [float(names.index(str(v))) for v in raw]
        label = f"{key}: " + ", ".join(f"{i} = {name}" for i, name in enumerate(names))
    elif _logged(kind, raw):
        xs, label = [math.log10(v) for v in raw], f"log10 {key}"
    else:
        xs = [float(v) for v in raw]
    return Chart(f"{metric} against {key}", [Line("", "#1f77b4", xs, [r["value"] for r in rows], radius=4.0,
                                                   opacity=0.8)], x_label=label, y_label=metric, legend=False).svg()


def render_sweep(context: dict) -> str:
    """The page's HTML (context: name, study, metric, maximize, rows, kinds, importance, best_yaml, ...)."""
    rows = ranked(context["rows"], context["maximize"])
    return render_page("sweep.html", **{**context, "rows": rows,
                                        "verdict": verdict(rows, context["importance"], context["kinds"],
                                                           context["maximize"]),
                                        "figures": figures(rows, context["kinds"], context["metric"],
                                                           context["maximize"]),
                                        "finite": lambda v: v is not None and math.isfinite(v)})
