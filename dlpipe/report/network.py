"""Inside the network: a verdict in words and small multiples from the per-layer statistics (layers.csv).

Findings, read at the last recorded epoch (thresholds stated in docs/guide/report.md):
- vanishing gradients: the first weighted layer's gradient norm is under VANISHING of the last one's;
- exploding gradients: over EXPLODING times the last one's, or any gradient norm above EXPLODING_ABS;
- dead ReLUs: at least DEAD of a layer's ReLU units were never positive on the probe batch;
- saturated units: at least SATURATED of a layer's tanh/sigmoid outputs lie beyond 0.99 of the range.
None of them: "healthy". The advice follows the cause, read from epoch 0 (before training): a finding
already there is the initialisation's (advice: the init); one that came with weights grown GREW times
or more during training is the learning rate's (advice: lower it); otherwise both are named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlpipe.report.svg import COLOURS, line_chart

VANISHING = 1.0e-3
EXPLODING = 1.0e3
EXPLODING_ABS = 1.0e4
DEAD = 0.5
SATURATED = 0.5
GREW = 2.0  # weights whose std grew this much during training were pushed by the learning rate
PANELS = (("weight_std", "weight std", True), ("grad_norm", "gradient norm (last training batch)", True),
          ("act_mean", "activation mean (probe batch)", False), ("act_std", "activation std (probe batch)", False),
          ("dead", "dead ReLU units (fraction)", False), ("saturated", "saturated tanh/sigmoid outputs (fraction)", False))


@dataclass(frozen=True)
class NetworkVerdict:
    """'healthy' or the first finding's kind (say 'saturated units'); every finding as a sentence; the epoch read."""

    kind: str
    findings: tuple[str, ...]
    epoch: int


def _name(row: dict) -> str:
    return f"layer {row['layer']} ({row['kind']})"


def judge_network(rows: list[dict]) -> NetworkVerdict | None:
    """The findings at the last recorded epoch; None without statistics."""
    if not rows:
        return None
    epoch = max(row["epoch"] for row in rows)
    last = sorted((row for row in rows if row["epoch"] == epoch), key=lambda row: row["layer"])
    start = {row["layer"]: row for row in rows if row["epoch"] == 0} if epoch > 0 else {}
    findings = _gradient_findings(last)
    dead = [row for row in last if _ok(row["dead"]) and row["dead"] >= DEAD]
    if dead:
        findings.append("dead ReLUs: " + f"{_shares(dead, 'dead')} ReLUs are dead (never positive on the probe batch)"
                        + _cause(dead, start, "dead", DEAD, init="init: kaiming_normal, or a small positive bias "
                                 "(bias: constant)", training="use leaky_relu"))
    saturated = [row for row in last if _ok(row["saturated"]) and row["saturated"] >= SATURATED]
    if saturated:
        kinds = "/".join(dict.fromkeys(row["activation"] for row in saturated))
        findings.append(f"saturated units: {kinds} units saturated, {_shares(saturated, 'saturated')} outputs are "
                        "beyond 0.99 of the range, where the gradient is ~0"
                        + _cause(saturated, start, "saturated", SATURATED, init="init: xavier_normal, or a smaller "
                                 "init std", training="add training.clip_grad_norm"))
    kind = findings[0].split(":")[0] if findings else "healthy"
    return NetworkVerdict(kind, tuple(findings), epoch)


def _cause(rows: list[dict], start: dict[int, dict], key: str, threshold: float, init: str, training: str) -> str:
    """The advice for a finding, by its cause: there before training (the init), or grown with the weights."""
    before = [start[row["layer"]] for row in rows if row["layer"] in start]
    if before and any(_ok(b[key]) and b[key] >= threshold for b in before):
        return f", already before training (epoch 0): the initialisation causes it; use {init}"
    growth = [row["weight_std"] / b["weight_std"] for row, b in zip(rows, before)
              if _ok(row["weight_std"]) and _ok(b["weight_std"]) and b["weight_std"] > 0]
    if growth and max(growth) >= GREW:
        return (f", not before training: the weights grew {max(growth):.1f}x while training; the learning rate is "
                f"too high: lower it (a tenth is a good first try), or {training}")
    return f": lower the learning rate, {training}, or use {init}"


def _shares(rows: list[dict], key: str) -> str:
    """'62 % of layer 2's' or '52-66 % of layers 1, 2 and 4's'."""
    low, high = min(row[key] for row in rows), max(row[key] for row in rows)
    share = f"{low:.0%}" if round(low * 100) == round(high * 100) else f"{low:.0%}-{high:.0%}"
    if len(rows) == 1:
        return f"{share} of {_name(rows[0])}'s"
    names = [str(row["layer"]) for row in rows]
    return f"{share} of layers {', '.join(names[:-1])} and {names[-1]}'s"


def _gradient_findings(last: list[dict]) -> list[str]:
    grads = [row for row in last if _ok(row["grad_norm"])]
    if len(grads) < 2:
        return []
    first, final = grads[0], grads[-1]
    ratio = first["grad_norm"] / final["grad_norm"] if final["grad_norm"] > 0 else math.inf
    if ratio < VANISHING:
        share = f"{ratio:.0e} of" if ratio > 0 else f"exactly 0 while that of {_name(final)} is {final['grad_norm']:.3g}"
        share = share if ratio == 0 else f"{share} {_name(final)}'s"
        return [f"vanishing gradients: {_name(first)}'s gradient is {share}; "
                "use init: xavier_normal (tanh, sigmoid) or kaiming_normal (relu), batchnorm, or fewer layers"]
    biggest = max(grads, key=lambda row: row["grad_norm"])
    if ratio > EXPLODING or biggest["grad_norm"] > EXPLODING_ABS:
        return [f"exploding gradients: {_name(first)}'s gradient is {ratio:.0e} times {_name(final)}'s "
                f"(largest norm {biggest['grad_norm']:.3g}); add training.clip_grad_norm, lower the learning "
                "rate or the init's scale"]
    return []


def _ok(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)




def network_charts(rows: list[dict]) -> tuple[list[tuple[str, str]], list[str]]:
    """Small multiples as inline SVG: ([(layer name, colour)] for one shared legend, one chart per statistic).

    SVG, not matplotlib: five panels cost ~0.5 s to render with matplotlib and ~5 ms here, on
    every run's report.
    """
    layers = sorted({row["layer"] for row in rows})
    mine = {layer: [row for row in rows if row["layer"] == layer] for layer in layers}
    legend = [(_name(mine[layer][0]), COLOURS[n % len(COLOURS)]) for n, layer in enumerate(layers)]
    charts = []
    for key, title, log in PANELS:
        series = [(name, colour, [row["epoch"] for row in mine[layer]], [row[key] for row in mine[layer]])
                  for (name, colour), layer in zip(legend, layers)]
        values = [v for *_, ys in series for v in ys if _ok(v)]
        if values:
            wide = min(values) > 0 and max(values) / min(values) > 10
            # fractions from 0: a dead share wobbling between 0.004 and 0.008 must not look like a swing
            fraction = (0.0, max(0.1, 1.1 * max(values))) if key in ("dead", "saturated") else None
            charts.append(line_chart(series, title, log=log and wide, legend=False, ylim=fraction))
    return legend, charts
