"""The web page at ``/`` in headless Chromium (Playwright, Debian's chromium): the key, an upload, speech."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import clips_of
from tests.support.daemonproc import FAST, StartDaemon, http_url
from tests.test_http import HTTP, KEY
from tests.test_listening import CHROMIUM


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/setup --test)")
def test_the_page_takes_the_key_adds_a_voice_and_plays_its_speech(
    start_daemon: StartDaemon, corpus: Path, home: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = http_url(start_daemon(FAST + HTTP))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--autoplay-policy=no-user-gesture-required"]
        )
        page = browser.new_page()
        page.route(
            "**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort()
        )
        page.goto(url)
        page.get_by_label("API key").fill(KEY)  # the box appears once the API asks for the key
        page.get_by_role("button", name="Use key").click()
        expect(page.get_by_role("cell", name="default (default)")).to_be_visible()

        (home / "voices" / "broken.wav").write_bytes(b"RIFF not really")  # shown with its reason
        page.get_by_label("Voice name").fill("anna")
        page.get_by_label("Clips").set_input_files([str(path) for path in clips_of(corpus, "1688")[:2]])
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_text("Added voice anna")).to_be_visible(timeout=30_000)
        assert (home / "voices" / "anna").is_dir()
        expect(page.get_by_role("cell", name="rejected", exact=True)).to_be_visible(timeout=15_000)

        page.get_by_label("Voice", exact=True).select_option("anna")
        page.get_by_label("Language").select_option("de")
        page.get_by_label("Text").fill("Guten Abend, die Waschmaschine ist fertig.")
        page.get_by_role("button", name="Speak").click()
        expect(page.get_by_text("Playing…")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(tmp_path / "http-page.png"), full_page=True)
        expect(page.get_by_text("Played.")).to_be_visible(timeout=60_000)
        played = page.evaluate("document.getElementById('player').currentTime")
        assert played > 1.5  # the tiny model's one text piece is about 1.9 s
        expect(page.get_by_role("cell", name="done").first).to_be_visible(timeout=10_000)
        browser.close()
    print(f"screenshot: {tmp_path / 'http-page.png'}")
