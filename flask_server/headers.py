"""Response headers that keep a browser from doing more with our pages than showing them.

The pages need only their own stylesheet, the upload preview (a ``data:`` image) and a form that
posts back here: the Content-Security-Policy allows that and nothing else (no scripts at all), so
even text that escaped escaping could not run. Pages are never framed (clickjacking), content
types are never sniffed, and no referrer leaves the site.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def install_security_headers(app: Flask) -> None:
    """Add ``SECURITY_HEADERS`` to every response, error pages and ``/metrics`` included."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
