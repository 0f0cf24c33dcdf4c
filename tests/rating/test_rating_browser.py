"""End to end in a real headless browser: an annotator completes a study with the keyboard
and the mouse against a live server, and the export shows exactly those answers."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import pytest

from understudy.rating import ExportOptions, export_study

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
                                reason="needs Debian's chromium (apt-get install chromium)")


def wait_stored(study, question_id: int, value: str, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(r["question_id"] == question_id and r["value"] == value
               for r in study.answer_rows()):
            return
        time.sleep(0.05)
    raise AssertionError(f"answer {value!r} to question {question_id} was not saved")


def test_annotator_completes_study_in_browser(live_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    base, study = live_server
    annotator = study.annotators()[0]
    total = study.count_assigned(annotator)
    typed: dict[int, str] = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            page.goto(f"{base}/s/{annotator.token}/")
            for position in range(total):
                page.wait_for_url(f"**/item/{position}")
                assert page.locator("#position").inner_text() == str(position + 1)
                # every image on the page loaded (naturalWidth > 0)
                widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
                assert widths and all(w > 0 for w in widths)
                fieldsets = page.locator("fieldset")
                for i in range(fieldsets.count()):
                    qid = int(fieldsets.nth(i).get_attribute("data-question"))
                    n_choices = fieldsets.nth(i).locator("input[type=radio]").count()
                    choice = (position + i) % min(n_choices, 5)
                    if position == 1 and i == 0:
                        fieldsets.nth(i).locator("input[type=radio]").nth(choice).click()
                    else:
                        page.keyboard.press(str(choice + 1))
                    value = fieldsets.nth(i).locator("input[type=radio]").nth(choice).get_attribute("value")
                    typed[qid] = value
                    # autosave: the answer reaches the database before the page is left
                    wait_stored(study, qid, value)
                if position == 2:  # go back with the keyboard, the answers are still shown
                    page.keyboard.press("ArrowLeft")
                    page.wait_for_url("**/item/1")
                    assert page.locator("input:checked").count() >= 1
                    page.goto(f"{base}/s/{annotator.token}/item/2")
                    assert page.locator("input:checked").count() == page.locator("fieldset").count()
                page.keyboard.press("Enter")
            page.wait_for_url("**/done")
            assert "Thank you" in page.locator("#done").inner_text()
            # another token sees none of it
            page.goto(f"{base}/s/not-a-token/")
            assert "not valid" in page.content()
        finally:
            browser.close()
    out = tmp_path / "export"
    result = export_study(study, out, ExportOptions(resamples=200, min_attention=0.0))
    with open(out / "answers.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(typed)
    stored = {r["question_id"]: r["value"] for r in study.answer_rows()}
    assert stored == typed
    assert {r["annotator"] for r in rows} == {annotator.label}
    assert result["annotators"][annotator.label]["answers"] == len(typed)
