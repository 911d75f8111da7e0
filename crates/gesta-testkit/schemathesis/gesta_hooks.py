"""Schemathesis hooks for Gesta's API fuzzing (loaded through SCHEMATHESIS_HOOKS).

HTTP forbids control characters in header values (RFC 9110, section 5.5), and the
server's HTTP parser (hyper) answers such a request with a bare 400 before any Gesta
code sees it. Schemathesis generates them anyway; replace them so that every case
reaches the API under test.
"""
import re

import schemathesis

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@schemathesis.hook
def before_call(context, case, kwargs):
    for headers in (case.headers, kwargs.get("headers")):
        for name, value in list((headers or {}).items()):
            if isinstance(value, str) and _CONTROL.search(value):
                headers[name] = _CONTROL.sub("?", value)
