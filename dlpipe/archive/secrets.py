"""Secrets masked wherever a URL is shown or stored: a password in a URL's user part or in its query string.

`postgresql+psycopg2://dlpipe:s3cret@db/sweeps` and `...?password=s3cret` both keep their user and host and
lose the secret; used for the sweep page, error messages and the command line each run records.
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
