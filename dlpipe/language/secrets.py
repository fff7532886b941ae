"""Secrets masked wherever a URL is shown or stored: a password in a URL's user part or in its query string.

`postgresql+psycopg2://dlpipe:s3cret@db/sweeps` and `...?password=s3cret` both keep their user and host and
lose the secret; applied to everything a run stores or says: pipeline.yaml (values, comments and
the --set header), model.pt's pipeline, metrics.json, the report, messages and the sweep's files.
"""

from __future__ import annotations

import re

MASK = "***"
# The password runs to the last "@" before a host (RFC 3986 forbids "@" and "/" in it unencoded, but people type
# them): greedy up to an "@" followed by a host that ends the authority.
USER_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@'\"]*):([^\s'\"]*)@(?=[^@\s/?#'\"]*(?:[/?#\s'\",}\]]|$))")
QUERY_SECRET = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass|secret|token|api_?key|access_?token|auth|"
                          r"sslpassword)=)[^&\s;#'\"]*")


def mask(text: str) -> str:
    """`text` with every URL password (user:password@, ?password=...) replaced by ***."""
    return QUERY_SECRET.sub(rf"\g<1>{MASK}", USER_PASSWORD.sub(rf"\g<1>:{MASK}@", text))


def masked(value):
    """A JSON-like value with every string in it masked (a pipeline's dump, before it is stored anywhere)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value
