"""The one Jinja2 setup every HTML page shares (report, run index, comparison).

Autoescaping is on, so every string that came from a YAML file or a run's files (name,
description, the resolved pipeline, metric names) is HTML-escaped; an undefined name in
a template is an error, not an empty string.
"""

from __future__ import annotations

import functools
import math

import jinja2

from dlpipe import __version__


def human(value) -> str:
    """A number for people: 4 significant digits, inf and NaN as words, huge or tiny ones in scientific notation."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "" if value is None else str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and not 1.0e-3 <= abs(value) < 1.0e5:
        return f"{value:.3e}"
    return f"{value:.4g}"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("dlpipe.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["human"] = human
    return env


def render_page(template: str, **context) -> str:
    """The named template rendered with `context` (and dlpipe's version as `version`)."""
    return _environment().get_template(template).render(version=__version__, **context)
