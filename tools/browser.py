"""Open the rendered book in headless Chromium (Debian's ``chromium``, driven by Playwright) and check it.

``python -m tools.browser ensure``  installs Debian's chromium if it is missing (needs root and apt-get;
otherwise says what to do).
``python -m tools.browser walk _build/html``  visits every page and prints a table of what it found.

For each page :func:`walk` records: console errors, failed requests (and HTTP status >= 400), images that did
not load, math left as raw TeX (``\\[`` or ``\\(`` in a ``.math`` element after MathJax ran), whether the theme's
stylesheets applied, and the previous/next links; it saves a screenshot of each page under ``screenshots/``
next to the html folder (not committed).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


def chromium_path() -> str | None:
    """Path of the Chromium binary: ``$LPA_CHROMIUM`` or ``chromium`` on PATH."""
    env = os.environ.get("LPA_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def ensure() -> str:
    """Return the Chromium path, installing Debian's ``chromium`` with apt-get when it is missing and allowed."""
    path = chromium_path()
    if path:
        return path
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("==> installing Debian's chromium for the browser test (apt-get, about 15 s)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"]
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run([apt, "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=False)
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
        path = chromium_path()
        if path:
            return path
    raise SystemExit(
        "Chromium is needed for the browser test and is not installed.\n"
        "  On Debian/Ubuntu as root: apt-get install -y chromium   (or: sudo apt-get install -y chromium)\n"
        "  Elsewhere: install Chromium and set LPA_CHROMIUM=/path/to/chromium"
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D102 - silence the per-request log
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class PageReport:
    page: str
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    images: int = 0
    math_elements: int = 0
    raw_math: int = 0
    styled: bool = False
    prev: str | None = None
    next: str | None = None
    screenshot: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.console_errors or self.failed_requests or self.broken_images or self.raw_math) and self.styled


_PAGE_JS = r"""
() => {
  const maths = Array.from(document.querySelectorAll('div.math, span.math'));
  const raw = maths.filter(m => { const t = (m.innerText || '').trim();
    return t.startsWith('\\[') || t.startsWith('\\(') || t.startsWith('$$'); });
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const sheets = Array.from(document.styleSheets).map(s => s.href || '');
  const themed = sheets.some(h => h.includes('sphinx-book-theme') || h.includes('pydata-sphinx-theme')
    || h.includes('styles/theme'));
  const ff = getComputedStyle(document.body).fontFamily || '';
  const prev = document.querySelector('a.left-prev');
  const next = document.querySelector('a.right-next');
  return {title: document.title, maths: maths.length, raw: raw.length, images: imgs.length, broken: broken,
          styled: themed && !/^\s*"?Times New Roman"?\s*$/.test(ff),
          prev: prev ? prev.getAttribute('href') : null, next: next ? next.getAttribute('href') : null};
}
"""

_MATHJAX_DONE_JS = r"""
() => !document.querySelector('div.math, span.math') ||
      (window.MathJax && MathJax.startup && MathJax.startup.promise &&
       document.querySelectorAll('mjx-container').length > 0)
"""


def walk(
    html_dir: str | Path,
    pages: list[str] | None = None,
    screenshot_dir: str | Path | None = None,
    timeout_ms: int = 30000,
) -> list[PageReport]:
    """Visit ``pages`` (default: every .html page except genindex/search) and report on each."""
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir).resolve()
    if not (html_dir / "index.html").exists():
        raise FileNotFoundError(f"{html_dir}/index.html: no rendered book here; run `make book` first")
    if pages is None:
        pages = sorted(
            str(p.relative_to(html_dir))
            for p in html_dir.rglob("*.html")
            if p.name not in ("genindex.html", "search.html")
            and "_static" not in p.parts
            and "_sources" not in p.parts
            and "mathjax" not in p.parts
        )
    shots = Path(screenshot_dir) if screenshot_dir else html_dir.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    reports = []
    with serve(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=ensure(), args=CHROMIUM_ARGS)
        try:
            for rel in pages:
                rep = PageReport(rel)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("console", lambda m, r=rep: r.console_errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, r=rep: r.console_errors.append(str(e)))
                page.on("requestfailed", lambda q, r=rep: r.failed_requests.append(f"{q.url} ({q.failure})"))
                page.on(
                    "response",
                    lambda s, r=rep: (
                        r.failed_requests.append(f"{s.url} (HTTP {s.status})") if s.status >= 400 else None
                    ),
                )
                page.goto(base + rel, wait_until="networkidle", timeout=timeout_ms)
                try:
                    page.wait_for_function(_MATHJAX_DONE_JS, timeout=timeout_ms)
                    page.evaluate(
                        "async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }"
                    )
                except Exception:  # noqa: BLE001 - reported below as raw math
                    pass
                info = page.evaluate(_PAGE_JS)
                rep.title, rep.math_elements, rep.raw_math = info["title"], info["maths"], info["raw"]
                rep.images, rep.broken_images, rep.styled = info["images"], info["broken"], info["styled"]
                rep.prev, rep.next = info["prev"], info["next"]
                shot = shots / (rel.replace("/", "__") + ".png")
                page.screenshot(path=str(shot), full_page=False)
                rep.screenshot = str(shot)
                page.close()
                reports.append(rep)
        finally:
            browser.close()
    return reports


def search_works(html_dir: str | Path, query: str = "manifold", timeout_ms: int = 30000) -> int:
    """Run the book's search page for ``query``; returns the number of results listed."""
    from playwright.sync_api import sync_playwright

    with serve(Path(html_dir).resolve()) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=ensure(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}search.html?q={query}", wait_until="networkidle", timeout=timeout_ms)
            page.wait_for_function(
                "() => document.querySelectorAll('#search-results li').length > 0 || "
                "(document.querySelector('#search-results p') || {}).innerText",
                timeout=timeout_ms,
            )
            return page.evaluate("() => document.querySelectorAll('#search-results li').length")
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] == "ensure":
        print(f"chromium: {ensure()}")
        return 0
    if argv[0] == "walk":
        html = Path(argv[1] if len(argv) > 1 else "_build/html")
        reps = walk(html)
        df = pd.DataFrame([{**r.__dict__, "ok": r.ok} for r in reps]).drop(columns=["screenshot"])
        with pd.option_context("display.max_colwidth", 60, "display.width", 200):
            print(df.to_string(index=False))
        print(f"search 'manifold': {search_works(html)} results")
        return 0 if all(r.ok for r in reps) else 1
    raise SystemExit(f"unknown command {argv[0]!r}; use: ensure | walk [html_dir]")


if __name__ == "__main__":
    sys.exit(main())
