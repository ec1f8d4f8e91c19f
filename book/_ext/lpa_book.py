"""Local Sphinx extension of the book (loaded through ``_config.yml`` -> ``sphinx.local_extensions``).

- Removes duplicate inline scripts: sphinx-thebe 0.3.1 registers its ``const THEBE_JS_URL = ...`` snippet on
  every ``env-before-read-docs`` event, which fires more than once, so each page declared the constant twice
  and the browser logged "Identifier 'THEBE_JS_URL' has already been declared".
- Drops sphinx-thebe's scripts: live code is off (``launch_buttons.thebe: false``), yet sphinx-thebe still put
  ``sphinx-thebe.js`` and a ``THEBE_JS_URL`` pointing at a CDN on every page; the book is offline, so neither
  is served.
- Sets the page's ``default_mode`` to ``light`` (sphinx-book-theme leaves it empty, and pydata-sphinx-theme
  then logs "Got invalid theme mode" on a first visit).
"""
def _page_context(app, pagename, templatename, context, doctree):
    context["default_mode"] = "light"
    files = context.get("script_files")
    if not files:
        return
    seen, unique = set(), []
    for js in files:
        body = str((getattr(js, "attributes", {}) or {}).get("body", ""))
        if str(getattr(js, "filename", "") or "").endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body:
            continue
        key = (getattr(js, "filename", str(js)) or "", tuple(sorted((getattr(js, "attributes", {}) or {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    files[:] = unique


def setup(app):
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
