"""The docs as a site: ``mkdocs build --strict`` builds it with no warning, its lists and heading ids
render as on GitHub, and headless chromium shows it as a learner sees it: Hangul drawn as text (not
missing-glyph boxes), every image loaded, nothing fetched from outside the site, and a Korean word
typed into the search box finds the chapter it comes from.

The browser tests need Debian's ``chromium`` and a Hangul font (``.ci/run`` installs both with apt;
playwright drives that chromium and downloads no browser). Where either is missing they skip with
that reason, and under CI their absence is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path

from common.config import REPO_ROOT
from common.report import reports_dir

import pytest
from mkdocs.config import load_config

CHROMIUM = Path("/usr/bin/chromium")
# As root on a closed network: no sandbox, and none of the browser's own network traffic
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
NAV_ORDER = [
    "index.md",
    "00_theory.md",
    "step01_basics.md",
    "step02_core_features.md",
    "step03_use_cases.md",
    "step04_advanced.md",
    "step05_production.md",
    "troubleshooting.md",
    "next_steps.md",
]
STEP_CHAPTERS = [name[:-3] for name in NAV_ORDER if name.startswith("step")]
# A fontconfig that sees every installed font except those covering Korean: the glyph check must fail there
NO_HANGUL_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>/usr/share/fonts</dir>
  <cachedir>{cache}</cachedir>
  <selectfont><rejectfont><pattern><patelt name="lang"><string>ko</string></patelt></pattern></rejectfont></selectfont>
</fontconfig>
"""
# Draw each character of a sample on a canvas in the font the page uses for its title, next to a character
# no font has (U+E000, private use): a Hangul syllable drawn exactly like it is a missing-glyph box.
GLYPHS_JS = """(sample) => {
  const font = '40px ' + getComputedStyle(document.querySelector('article h1')).fontFamily;
  const draw = (text) => {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    const ctx = canvas.getContext('2d');
    ctx.font = font; ctx.fillStyle = '#000'; ctx.fillText(text, 4, 48);
    return {width: ctx.measureText(text).width, image: canvas.toDataURL()};
  };
  const missing = draw('\\uE000');
  return {missing_width: missing.width, glyphs: [...sample].map((ch) => {
    const drawn = draw(ch);
    return {ch, width: drawn.width, box: drawn.image === missing.image};
  })};
}"""


def browser_missing(chromium: Path = CHROMIUM) -> list[str]:
    """What the browser tests need and this machine lacks."""
    missing = [] if chromium.is_file() else ["chromium"]
    fonts = (
        subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True)
        if shutil.which("fc-list")
        else None
    )
    if fonts is None or not fonts.stdout.strip():
        missing.append("a Hangul font")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright")
    return missing


def skip_reason(missing: list[str]) -> str:
    return f"skipped: needs {' and '.join(missing)} (Debian: apt-get install chromium fonts-nanum)"


MISSING = browser_missing()
needs_browser = pytest.mark.skipif(bool(MISSING), reason=skip_reason(MISSING))


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """The site built as `make docs-site` builds it, into a folder of this test run."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return done, out


@pytest.fixture(scope="module")
def site(build) -> Path:
    done, out = build
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def page(site: Path, name: str) -> str:
    return (site / (name if name == "index.html" else f"{name}/index.html")).read_text(encoding="utf-8")


def test_mkdocs_builds_the_docs_with_no_warning(build):
    done, out = build
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr and "Documentation built" in done.stderr
    assert {p.parent.name for p in out.glob("*/index.html")} == {n[:-3] for n in NAV_ORDER if n != "index.md"}


def test_the_nav_follows_the_learning_path_and_holds_every_page():
    config = load_config(str(REPO_ROOT / "mkdocs.yml"))
    nav = [next(iter(entry.values())) for entry in config["nav"]]
    assert nav == NAV_ORDER
    assert sorted(nav) == sorted(p.name for p in (REPO_ROOT / "docs").glob("*.md"))
    assert config["theme"]["font"] is False, "web fonts would be fetched from outside the site"
    assert config["theme"]["language"] == "ko"


class ListDepth(HTMLParser):
    """For each text, how many lists (ul/ol) it sits in, and whether inside a blockquote."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.items: list[tuple[int, bool, str]] = []  # (list depth, in blockquote, text at the start of an <li>)
        self._open_li = False

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        if tag == "li":
            self._open_li = True

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if self._open_li and data.strip():
            depth = sum(1 for tag in self.stack if tag in ("ul", "ol"))
            self.items.append((depth, "blockquote" in self.stack, data.strip()))
            self._open_li = False


def list_items(html: str) -> list[tuple[int, bool, str]]:
    parser = ListDepth()
    parser.feed(html)
    return parser.items


@pytest.mark.parametrize("chapter", STEP_CHAPTERS)
def test_learning_goals_render_as_a_list(site, chapter):
    source = (REPO_ROOT / "docs" / f"{chapter}.md").read_text(encoding="utf-8")
    quote = source.split("> **학습 목표**")[1].split("\n\n")[0]
    goals = re.findall(r"^> - ", quote, re.M)
    quoted = [item for item in list_items(page(site, chapter)) if item[1]]
    assert len(goals) >= 3 and len(quoted) >= len(goals), f"{chapter}: the goals render as one paragraph"


@pytest.mark.parametrize(
    ("chapter", "nested"),
    [("00_theory", "IVF 계열("), ("00_theory", "그래프 계열("), ("troubleshooting", "일관성 수준:")],
)
def test_nested_lists_render_nested(site, chapter, nested):
    depths = [depth for depth, _, text in list_items(page(site, chapter)) if text.startswith(nested)]
    assert depths == [2], f"{chapter}: {nested!r} at list depth {depths}"


def test_heading_ids_read_as_github_makes_them(site):
    assert 'id="01-환경-점검"' in page(site, "step01_basics")
    assert 'id="03-파티션"' in page(site, "step02_core_features")
    numbered = {name: re.findall(r'<h[1-6] id="(_\d*)"', page(site, name[:-3])) for name in NAV_ORDER[1:]}
    assert not any(numbered.values()), numbered


def test_the_pages_reference_nothing_outside_the_site(site):
    for html in site.rglob("*.html"):
        assets = re.findall(
            r'<(?:script|img|link)\b[^>]*\b(?:src|href)="(https?:)?//', html.read_text(encoding="utf-8")
        )
        assert not assets, f"{html.relative_to(site)} loads an asset from outside the site"


def test_the_browser_check_never_skips_in_ci():
    if os.environ.get("CI"):
        assert not MISSING, f"CI must run the browser tests: {skip_reason(MISSING)}"
    elif MISSING:
        assert skip_reason(MISSING).startswith("skipped: needs ")
        pytest.skip(skip_reason(MISSING))


def test_a_missing_browser_is_named_in_the_skip(tmp_path):
    missing = browser_missing(chromium=tmp_path / "no-chromium")
    assert "chromium" in missing
    assert skip_reason(missing).startswith("skipped: needs chromium")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    """The built site on 127.0.0.1 (a free port), as `python -m http.server -d site` serves it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@contextlib.contextmanager
def chromium(playwright, profile: Path, env: dict | None = None):
    """Debian's chromium, headless, with a fresh profile; playwright downloads no browser of its own."""
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        env={**os.environ, **(env or {})},
    )
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory):
    with chromium(playwright, tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def open_page(browser, url: str):
    """A page at ``url`` and the list of every URL it requested."""
    tab = browser.new_page()
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    tab.goto(url, wait_until="load")
    return tab, requested


@needs_browser
@pytest.mark.parametrize(
    ("path", "sample"),
    [("", "코스학습경로실행방법"), ("step01_basics/", "환경점검연결패턴"), ("step02_core_features/", "파티션필터검색")],
    ids=["home", "step01_basics", "step02_core_features"],
)
def test_a_page_renders_hangul_images_and_nothing_from_outside(browser, served, path, sample):
    tab, requested = open_page(browser, served + path)
    try:
        assert "Milvus" in tab.title()
        drawn = tab.evaluate(GLYPHS_JS, sample)
        boxes = [g["ch"] for g in drawn["glyphs"] if g["box"]]
        assert not boxes, f"{path or 'home'}: {''.join(boxes)} drawn as missing-glyph boxes ({drawn})"
        images = tab.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")
        assert all(width > 0 for _, width in images), images
        if path == "step02_core_features/":
            assert len(images) >= 2, images  # the chapter's figures
            tab.screenshot(path=str(reports_dir() / "docs_site_step02_core_features.png"), full_page=False)
        tab.wait_for_load_state("networkidle")
        outside = [url for url in requested if not url.startswith(served)]
        assert not outside, outside
    finally:
        tab.close()


@needs_browser
@pytest.mark.parametrize(
    ("word", "chapter"), [("파티션", "step02_core_features/"), ("세그먼트", "00_theory/")], ids=["step02", "theory"]
)
def test_searching_a_korean_word_finds_its_chapter(browser, served, word, chapter):
    assert word in (REPO_ROOT / "docs" / f"{chapter[:-1]}.md").read_text(encoding="utf-8")
    tab, _ = open_page(browser, served)
    try:
        # fill() sets the value and fires input events; typing Hangul key by key sends no key events
        tab.fill("input.md-search__input", word)
        tab.wait_for_selector(".md-search-result__item", timeout=15_000)
        found = tab.eval_on_selector_all(".md-search-result__item > a", "els => els.map(e => new URL(e.href).pathname)")
        assert f"/{chapter}" in found, found
    finally:
        tab.close()


@needs_browser
def test_the_glyph_check_sees_boxes_where_no_font_has_hangul(playwright, served, tmp_path):
    config = tmp_path / "fonts.conf"
    config.write_text(NO_HANGUL_FONTCONFIG.format(cache=tmp_path / "cache"))
    with chromium(playwright, tmp_path / "profile", env={"FONTCONFIG_FILE": str(config)}) as context:
        tab, _ = open_page(context, served + "step01_basics/")
        drawn = tab.evaluate(GLYPHS_JS, "환경점검")
    assert all(g["box"] for g in drawn["glyphs"]), drawn
