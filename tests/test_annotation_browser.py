"""A person's annotation in a real browser: JupyterLab started by the test, headless Chromium driven by
Playwright. Run the notebook, move the slider, tick two tracklets, split one at the identity swap, pick subject 0,
Save; then the database must hold that annotation and `PersonBbox` must follow from it.

Needs the Python ``playwright`` package (its wheel carries the driver; no ``playwright install``) and Debian's
``chromium`` at /usr/bin/chromium. A missing or broken Chromium fails the test; so does anything the page does
not show in time.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tests.annotation_browser import CHROMIUM, CHROMIUM_ARGS, JupyterLab, write_notebook
from tests.annotation_data import N_FRAMES, SWAP, prepare_tracking_result, tracking_schema

SCREENSHOT = Path(tempfile.gettempdir()) / "pose_pipeline_annotation_browser.png"
TIMEOUT_MS = 45_000  # the first widget render waits for JupyterLab, the kernel and the pipeline's imports


def launch_chromium(playwright, user_data_dir: Path):
    """Debian's Chromium, headless, with a fresh profile; fails the test (never skips) when it cannot start."""
    from playwright.sync_api import Error as PlaywrightError

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium")
    try:
        return playwright.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1400},
        )  # fmt: skip
    except PlaywrightError as error:
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {error}")


def test_annotation_in_the_browser(backend, request, tmp_path):
    request.getfixturevalue("db")  # empty pipeline tables before and after
    from playwright import sync_api

    tracking = tracking_schema()
    prepared = prepare_tracking_result(tmp_path / "data")
    key = prepared.key

    root = tmp_path / "lab"
    root.mkdir()
    write_notebook(
        root / "annotate.ipynb",
        "from pose_pipeline.annotation import AnnotationWidget\n\n"
        f"AnnotationWidget(key={key!r}, annotator='browser-test')",
    )
    started = time.monotonic()
    with JupyterLab(root, backend.subprocess_env(), tmp_path / "jupyter") as lab, sync_api.sync_playwright() as pw:
        browser = launch_chromium(pw, tmp_path / "chromium_profile")
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(lab.notebook_url("annotate.ipynb"))
            # Run the notebook as a person does: Run menu, Run All Cells.
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for()  # the kernel is ready
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            widget = page.locator(".pp-annotation")
            widget.wait_for()
            label = widget.locator(".pp-frame-label")
            sync_api.expect(label).to_contain_text(f"frame 0 / {N_FRAMES - 1}")
            frame_image = widget.locator(".pp-frame")
            sync_api.expect(frame_image).to_have_js_property("complete", True)
            first_src = frame_image.get_attribute("src")

            # Play a little, then pause: the Play control drives the slider, the kernel draws the frames.
            play_button = widget.locator(".pp-play button").first
            play_button.click()
            sync_api.expect(label).not_to_contain_text("frame 0 /")
            play_button.click()

            # Move the slider: drag its handle to the right, then type the exact frame into its readout.
            handle = widget.locator(".pp-slider .noUi-handle")
            track = widget.locator(".pp-slider .noUi-target").bounding_box()
            box = handle.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(track["x"] + 0.7 * track["width"], box["y"] + box["height"] / 2, steps=8)
            page.mouse.up()
            readout = widget.locator(".pp-slider .widget-readout")
            dragged_to = int(readout.inner_text())
            assert 0.5 * N_FRAMES < dragged_to < 0.9 * N_FRAMES, f"the drag moved the slider to {dragged_to}"
            sync_api.expect(label).to_contain_text(f"frame {dragged_to} / {N_FRAMES - 1}")  # the kernel followed
            sync_api.expect(frame_image).not_to_have_attribute("src", first_src)  # and showed another frame
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(str(SWAP))
            page.keyboard.press("Enter")
            sync_api.expect(label).to_contain_text(f"frame {SWAP} / {N_FRAMES - 1}")
            sync_api.expect(widget.locator(f'.pp-marker[data-frame="{SWAP}"]')).to_have_count(1)

            # Tick the two tracklets of person A.
            for track_id in (1, 3):
                widget.locator(f".pp-track-{track_id} input[type=checkbox]").check()
            sync_api.expect(widget.locator(".pp-timeline text", has_text="✓")).to_have_count(2)

            # Split track 1 where it jumps to person B.
            widget.locator(".pp-split-track select").select_option(label="track 1")
            widget.get_by_role("button", name="Split track at this frame").click()
            status = widget.locator(".pp-status")
            sync_api.expect(status).to_contain_text("from there on it is track 4")
            sync_api.expect(widget.locator(".pp-track-4 input[type=checkbox]")).not_to_be_checked()
            sync_api.expect(widget.locator(f'.pp-bar[data-track="4"][data-first="{SWAP}"]')).to_have_count(1)

            # Subject 0, Save.
            widget.locator(".pp-subject select").select_option(label="0 · primary subject")
            widget.get_by_role("button", name="Save").click()
            sync_api.expect(status).to_contain_text("Saved subject 0: tracks 1, 3, 1 split")
            sync_api.expect(widget.locator(".pp-saved")).to_contain_text("subject 0: tracks 1, 3 (1 split)")
        finally:
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            print(f"screenshot: {SCREENSHOT}; JupyterLab log: {lab.log_path}")
            browser.close()
    elapsed = time.monotonic() - started

    row = (tracking.PersonBboxValid & key).to_dicts()
    assert len(row) == 1, row
    assert row[0]["subject_id"] == 0 and row[0]["annotator"] == "browser-test"
    assert row[0]["keep_tracks"].tolist() == [1, 3]
    assert row[0]["splits"] == [[1, SWAP, 4]]
    tracking.PersonBbox.populate(key)
    boxes, present = (tracking.PersonBbox & {**key, "subject_id": 0}).fetch1("boxes", "present")
    expected = prepared.expected_subject_boxes()
    np.testing.assert_array_equal(present, np.isfinite(expected).all(axis=1))
    np.testing.assert_allclose(boxes[present], expected[present], atol=1e-3)
    print(f"browser session {elapsed:.1f} s; screenshot {SCREENSHOT}; {os.path.getsize(SCREENSHOT)} bytes")
