"""The web page in a real headless Chromium (Debian's, driven by Playwright; no browser download).

Screenshots land in ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness import sample_images
from harness.launch import start_web_app
from harness.processes import free_port

sync_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root and on a machine with no network, Chromium needs these to start quietly.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 375, "height": 667}

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must test the page in a browser: install Debian's chromium")
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def web_app(model_server):
    with start_web_app(model_server.address, name="browser-web-app") as server:
        yield server


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "holiday <photo>.jpg"
    path.write_bytes(sample_images.photo())
    return path


def _upload(page, url: str, image: Path) -> None:
    page.goto(url + "/")
    page.get_by_label("Choose an image").set_input_files(str(image))
    page.get_by_role("button", name="Classify").click()
    page.wait_for_load_state()


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_uploading_a_photo_shows_its_predictions(page, web_app, photo):
    _upload(page, web_app.address, photo)
    _screenshot(page, "predictions-phone.png")
    assert page.get_by_role("heading", name="Predictions for holiday <photo>.jpg").is_visible()
    assert page.locator("ol.predictions li").count() == 3
    assert page.get_by_role("alert").filter(has_text="Untrained weights").is_visible()
    assert page.get_by_alt_text("The uploaded image, holiday <photo>.jpg").is_visible()
    assert page.locator("meter").first.get_attribute("aria-label").startswith("probability of ")


def test_the_pages_fit_a_phone_screen(page, web_app, photo):
    for step in ("form", "result"):
        if step == "form":
            page.goto(web_app.address + "/")
        else:
            _upload(page, web_app.address, photo)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the {step} page is {overflow}px wider than a phone screen"


def test_the_form_works_from_the_keyboard(page, web_app):
    page.goto(web_app.address + "/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id")
    page.keyboard.press("Tab")
    assert (focused, page.evaluate("document.activeElement.tagName")) == ("file", "BUTTON")


def test_a_down_model_server_gets_a_friendly_page(page, photo):
    with start_web_app(f"tcp://127.0.0.1:{free_port()}", name="browser-web-app-down") as web:
        _upload(page, web.address, photo)
        _screenshot(page, "model-server-down-phone.png")
        assert page.get_by_role("heading", name="The model server is not available").is_visible()
        assert "Please try again" in page.content()


def test_the_content_security_policy_lets_the_page_show_everything_it_needs(page, web_app, photo):
    """The policy allows no scripts; the stylesheet and the preview must still load."""
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    _upload(page, web_app.address, photo)
    preview_width = page.get_by_alt_text("The uploaded image, holiday <photo>.jpg").evaluate(
        "image => image.naturalWidth")
    stylesheet_rules = page.evaluate("document.styleSheets[0].cssRules.length")
    assert violations == []
    assert preview_width > 0, "the preview (a data: image) was blocked"
    assert stylesheet_rules > 0, "the stylesheet was blocked"
