"""Book tooling: build the book (``python -m tools.book``), walk it in a browser, benchmark and scaling.

Never imported by a chapter or by :mod:`lpa_utils`."""
