"""The one Jinja2 setup every HTML page shares (report, run index, comparison).

Autoescaping is on, so every string that came from a YAML file or a run's files (name,
description, the resolved pipeline, metric names) is HTML-escaped; an undefined name in
a template is an error, not an empty string.
"""

from __future__ import annotations

import functools

import jinja2

from dlpipe import __version__


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("dlpipe.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_page(template: str, **context) -> str:
    """The named template rendered with `context` (and dlpipe's version as `version`)."""
    return _environment().get_template(template).render(version=__version__, **context)
