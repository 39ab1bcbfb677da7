"""The page in a real headless Chromium, through the real front door (nginx) to a real embedded server.

Debian's ``chromium`` and ``chromium-driver`` (``make setup``) driven by Selenium; nothing is downloaded at
run time. The server runs with an admin key, so listing the pipelines works only through the front's
index call. Screenshots go to ``$RAWVISION_ARTIFACTS/page`` (or pytest's temporary folder).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.imaging import encode
from rawvision.ocr.synthetic import render
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.front import Certificate, body_limit, self_signed_certificate
from rawvision.server.nginx import CONTENT_SECURITY_POLICY, Guard, Nginx
from rawvision.testing.photos import exif_rotated_jpeg, jpeg, photo

pytestmark = pytest.mark.integration

KEY = "page-browser-test-key"
ADMIN = "page-browser-admin-key"
MODELS = ("imagenet", "faces", "ocr", "mnist")
LOADED = (*MODELS, "ocr_recognize")  # ocr_lines calls it (BLS); explicit model control loads only what is named
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
STROKE = (0xE6, 0x19, 0x4B)  # the page's first colour, class 0
WAIT = 180.0


@pytest.fixture(scope="module")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            load_models=LOADED, admin_key=ADMIN)
    log = tmp_path_factory.mktemp("triton") / "server.log"
    with log.open("wb") as handle:
        server = EmbeddedServer(options, handle)
        try:
            server.start(timeout=600)
        except Exception:
            print(log.read_text(errors="replace")[-5000:])
            raise
        try:
            yield options
        finally:
            server.stop()


@pytest.fixture(scope="module")
def front(triton: ServerOptions, repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    certificate = self_signed_certificate(tmp_path_factory.mktemp("cert"))
    guard = Guard(KEY, certificate.certificate, certificate.private_key, body_limit(repository, MODELS), 1000, 1000,
                  admin_key=ADMIN)
    with Nginx(free_ports(1)[0], [triton.http_url], guard=guard) as nginx:
        yield nginx


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("RAWVISION_ARTIFACTS")
    folder = Path(root) / "page" if root else tmp_path_factory.mktemp("page-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"page screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(front: Nginx) -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (make setup installs them)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1500", "--lang=en-US"):
        options.add_argument(argument)
    options.accept_insecure_certs = True  # the front's self-signed certificate
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Any, timeout: float = WAIT) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def open_page(driver: Any, front: Nginx, model: str = "") -> None:
    """Open the page (with ``?model=``), enter the key if it asks, and wait for the pipeline list."""
    from selenium.webdriver.common.by import By

    driver.get(f"https://localhost:{front.port}/" + (f"?model={model}" if model else ""))
    wait(driver, lambda d: not d.find_element(By.ID, "pipeline").get_property("disabled")
         or not d.find_element(By.ID, "key-section").get_property("hidden"))
    if not driver.find_element(By.ID, "key-section").get_property("hidden"):
        driver.find_element(By.ID, "key-input").send_keys(KEY)
        driver.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    wait(driver, lambda d: not d.find_element(By.ID, "pipeline").get_property("disabled"))


def send(driver: Any, files: list[Path]) -> list[Any]:
    """Choose ``files`` in the file input and wait until each has its answer card; the cards, newest first."""
    from selenium.webdriver.common.by import By

    before = len(driver.find_elements(By.CSS_SELECTOR, "#results .result"))
    driver.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .result:not([data-state=pending])"))
         >= before + len(files))
    return driver.find_elements(By.CSS_SELECTOR, "#results .result")[:len(files)]


def screenshot(driver: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def served(triton: ServerOptions, model: str, data: bytes, outputs: list[str],
           batched: bool = True) -> dict[str, np.ndarray]:
    """The server's own answer to ``data``, asked directly (not through the front or the page)."""
    client = httpclient.InferenceServerClient(triton.http_url)
    try:
        images = np.array([[data]] if batched else [data], dtype=object)
        tensor = httpclient.InferInput("IMAGE", list(images.shape), "BYTES")
        tensor.set_data_from_numpy(images)
        result = client.infer(model, [tensor], outputs=[httpclient.InferRequestedOutput(n) for n in outputs])
        return {name: result.as_numpy(name) for name in outputs}
    finally:
        client.close()


def csp_violations(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def test_without_the_key_the_page_asks_for_it_then_lists_the_ready_ensembles(
        browser: Any, front: Nginx, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"https://localhost:{front.port}/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    wait(browser, lambda d: not d.find_element(By.ID, "key-section").get_property("hidden"))
    assert "401" in browser.find_element(By.ID, "key-reason").text
    assert browser.find_element(By.ID, "pipeline").get_property("disabled")
    assert browser.switch_to.active_element.get_attribute("id") == "key-input"
    screenshot(browser, artifacts, "key-prompt")

    browser.find_element(By.ID, "key-input").send_keys(KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    wait(browser, lambda d: not d.find_element(By.ID, "pipeline").get_property("disabled"))
    options = {o.get_attribute("value"): o.text for o in browser.find_elements(By.CSS_SELECTOR, "#pipeline option")}
    assert options == {"faces": "faces (detector)", "imagenet": "imagenet (classifier)",
                       "mnist": "mnist (classifier)", "ocr": "ocr (OCR)"}
    assert browser.execute_script("return sessionStorage.getItem('rawvision-inference-key')") == KEY
    assert csp_violations(browser) == []


def test_a_photo_to_imagenet_shows_its_top_label(browser: Any, front: Nginx, triton: ServerOptions,
                                                  artifacts: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, front, "imagenet")
    assert browser.find_element(By.ID, "pipeline").get_attribute("value") == "imagenet"
    assert browser.find_element(By.ID, "options").get_property("hidden")  # no detection options for a classifier
    files = [tmp_path / "coffee.jpg", tmp_path / "chelsea.jpg"]
    for file in files:
        file.write_bytes(jpeg(photo(file.stem)))
    cards = send(browser, files)
    for card, file in zip(cards, reversed(files), strict=True):  # newest first
        assert card.get_attribute("data-state") == "done" and card.get_attribute("data-file") == file.name
        expected = served(triton, "imagenet", file.read_bytes(), ["LABELS"])["LABELS"].reshape(-1)
        labels = [li.get_attribute("data-label") for li in card.find_elements(By.CSS_SELECTOR, ".labels li")]
        assert labels == [label.decode() for label in expected]
        assert card.find_element(By.CSS_SELECTOR, ".summary").text == f"Top label: {labels[0]}"
        assert card.find_elements(By.CSS_SELECTOR, ".labels meter")
        timing = card.find_element(By.CSS_SELECTOR, ".timing").text
        assert timing.startswith("round trip ") and "(server " in timing
    assert cards[1].find_element(By.CSS_SELECTOR, ".labels li").get_attribute("data-label") == "espresso"
    screenshot(browser, artifacts, "imagenet")


@pytest.mark.parametrize("encoding", ["jpeg", "exif-rotated"])
def test_a_face_photo_to_faces_shows_its_boxes_at_the_right_place_and_their_count(
        browser: Any, front: Nginx, triton: ServerOptions, artifacts: Path, tmp_path: Path, encoding: str) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, front, "faces")
    assert not browser.find_element(By.ID, "options").get_property("hidden")
    assert browser.find_element(By.ID, "score_threshold").get_attribute("value") == "0.5"  # the config's default
    file = tmp_path / "astronaut.jpg"
    pixels = photo("astronaut") if encoding == "jpeg" else photo("astronaut")[:, 60:460]  # not square: turned
    file.write_bytes(jpeg(pixels) if encoding == "jpeg" else exif_rotated_jpeg(pixels))
    card = send(browser, [file])[0]
    answer = served(triton, "faces", file.read_bytes(), ["BOXES", "COUNT"])
    count = int(answer["COUNT"].reshape(-1)[0])
    assert count >= 1
    assert card.find_element(By.CSS_SELECTOR, ".count").text == f"{count} detection" + "s" * (count != 1)
    canvas = card.find_element(By.TAG_NAME, "canvas")
    drawn = np.array(json.loads(canvas.get_attribute("data-boxes")))
    np.testing.assert_allclose(drawn, answer["BOXES"][0, :count], atol=1e-3)
    height, width = pixels.shape[:2]  # upright, as the server decodes it (EXIF applied)
    assert (canvas.get_property("width"), canvas.get_property("height")) == (width, height)
    # The box is drawn where the server put it: the stroke colour on its left edge, not beside it.
    for x1, y1, x2, y2 in drawn:
        middle = int((y1 + y2) / 2)
        on_edge, inside, outside = browser.execute_script(
            "const c = arguments[0].getContext('2d');"
            "return arguments[1].map(([x, y]) => Array.from(c.getImageData(x, y, 1, 1).data).slice(0, 3));",
            canvas, [[int(x1), middle], [int((x1 + x2) / 2), middle], [max(int(x1) - 12, 0), middle]])
        assert tuple(on_edge) == STROKE and tuple(inside) != STROKE and tuple(outside) != STROKE
    screenshot(browser, artifacts, "faces" if encoding == "jpeg" else f"faces-{encoding}")


def test_detection_options_travel_as_request_parameters(browser: Any, front: Nginx, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, front, "faces")
    file = tmp_path / "astronaut.jpg"
    file.write_bytes(jpeg(photo("astronaut")))
    field = browser.find_element(By.ID, "score_threshold")
    field.clear()
    field.send_keys("1.5")
    card = send(browser, [file])[0]
    assert card.get_attribute("data-state") == "error" and card.get_attribute("data-status") == "400"
    assert "score_threshold" in card.find_element(By.CSS_SELECTOR, ".error").text
    field.clear()
    field.send_keys("0.999")
    card = send(browser, [file])[0]
    assert card.find_element(By.CSS_SELECTOR, ".count").text == "0 detections"


def test_a_text_picture_to_ocr_shows_its_lines(browser: Any, front: Nginx, triton: ServerOptions,
                                               artifacts: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, front, "ocr")
    text = render(seed=7)
    file = tmp_path / "text.png"
    file.write_bytes(encode(text.pixels, "PNG"))
    card = send(browser, [file])[0]
    answer = served(triton, "ocr", file.read_bytes(), ["TEXTS", "BOXES"], batched=False)  # OCR: no batch dim
    expected = [line.decode() for line in answer["TEXTS"].reshape(-1)]
    lines = [li.get_attribute("data-text") for li in card.find_elements(By.CSS_SELECTOR, ".lines li")]
    assert lines == expected and len(lines) == len(text.lines)
    assert card.find_element(By.CSS_SELECTOR, ".count").text == f"{len(lines)} lines"
    quads = np.array(json.loads(card.find_element(By.TAG_NAME, "canvas").get_attribute("data-boxes")))
    np.testing.assert_allclose(quads, answer["BOXES"].reshape(-1, 4, 2), atol=1e-3)
    screenshot(browser, artifacts, "ocr")


def test_a_non_image_shows_the_server_s_message_beside_that_file_only(
        browser: Any, front: Nginx, triton: ServerOptions, artifacts: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, front, "mnist")
    bad, good = tmp_path / "notes.txt", tmp_path / "digit.png"
    bad.write_bytes(b"this is not an image")
    good.write_bytes(encode(np.pad(np.full((14, 6), 255, np.uint8), ((7, 7), (11, 11))), "PNG"))
    with pytest.raises(InferenceServerException) as refused:
        served(triton, "mnist", bad.read_bytes(), ["LABELS"])
    cards = send(browser, [bad, good])
    by_file = {card.get_attribute("data-file"): card for card in cards}
    error = by_file["notes.txt"].find_element(By.CSS_SELECTOR, ".error").text
    assert by_file["notes.txt"].get_attribute("data-status") == "400"
    assert refused.value.message() in error
    assert by_file["digit.png"].get_attribute("data-state") == "done"
    assert not by_file["digit.png"].find_elements(By.CSS_SELECTOR, ".error")
    screenshot(browser, artifacts, "non-image")


def test_it_fits_a_phone_with_the_picture_scaled_and_boxes_aligned(
        browser: Any, front: Nginx, artifacts: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True})
    try:
        open_page(browser, front, "faces")
        file = tmp_path / "astronaut.jpg"
        file.write_bytes(jpeg(photo("astronaut")))
        card = send(browser, [file])[0]
        canvas = card.find_element(By.TAG_NAME, "canvas")
        shown = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];",
                                       canvas)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 375
        assert shown[0] < canvas.get_property("width")  # scaled down by CSS, drawn at its own size
        assert shown[0] / canvas.get_property("width") == pytest.approx(shown[1] / canvas.get_property("height"),
                                                                         rel=0.01)
        screenshot(browser, artifacts, "phone")
        browser.execute_script("arguments[0].scrollIntoView()", card)
        screenshot(browser, artifacts, "phone-result")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert csp_violations(browser) == []


def test_the_file_input_is_reached_with_the_keyboard_and_its_drop_zone_shows_focus(
        browser: Any, front: Nginx) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, front, "imagenet")
    drop = browser.find_element(By.ID, "drop")
    assert browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle", drop) == "none"
    browser.find_element(By.TAG_NAME, "body").click()
    for _ in range(12):
        if browser.switch_to.active_element.get_attribute("id") == "files":
            break
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "files"
    assert browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle", drop) == "solid"
    labelled = browser.execute_script(
        "return Array.from(document.querySelectorAll('input, select'))"
        ".filter(e => !e.labels || e.labels.length === 0).map(e => e.id)")
    assert labelled == []


def test_a_file_over_the_front_s_body_limit_shows_its_413_message(
        browser: Any, front: Nginx, repository: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, front, "mnist")
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8" + bytes(body_limit(repository, MODELS)))
    card = send(browser, [big])[0]
    assert card.get_attribute("data-status") == "413"
    assert "larger than" in card.find_element(By.CSS_SELECTOR, ".error").text


def test_rawvision_front_says_where_the_page_is_and_serves_it(triton: ServerOptions, repository: Path,
                                                              tmp_path: Path) -> None:
    port = free_ports(1)[0]
    command = [str(Path(sys.executable).with_name("rawvision")), "front", "--upstream", triton.http_url,
               "--port", str(port), "--api-key", KEY, "--admin-key", ADMIN, "--cert-dir", str(tmp_path / "cert"),
               "--repository", str(repository), "--ensemble", "mnist"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[2].startswith(f"the page: open https://localhost:{port}/ and enter the inference key"), lines
        certificate = Certificate(tmp_path / "cert" / "front.crt", tmp_path / "cert" / "front.key")
        context = ssl.create_default_context(cafile=str(certificate.certificate))
        with urllib.request.urlopen(f"https://localhost:{port}/", context=context, timeout=10) as response:
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert b'<script src="page.js" defer></script>' in response.read()
        index = urllib.request.Request(f"https://localhost:{port}/v2/repository/index", data=b'{"ready":true}',
                                       headers={"Authorization": f"Bearer {KEY}", "Origin": "https://localhost"})
        with urllib.request.urlopen(index, context=context, timeout=10) as response:
            assert {row["name"] for row in json.loads(response.read())} >= set(MODELS)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    assert code == 0


def test_without_the_admin_key_at_the_front_the_page_says_so_and_model_still_works(
        browser: Any, triton: ServerOptions, repository: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    certificate = self_signed_certificate(tmp_path / "cert")
    guard = Guard(KEY, certificate.certificate, certificate.private_key, body_limit(repository, MODELS), 1000, 1000)
    with Nginx(free_ports(1)[0], [triton.http_url], guard=guard) as bare:
        open_page(browser, bare, "imagenet")
        status = browser.find_element(By.ID, "status").text
        assert status.startswith("Could not list the pipelines (403:"), status
        options = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#pipeline option")]
        assert options == ["imagenet"]
