"""The front door's page parts: the page's files and headers, browsers kept off the admin APIs, the index open.

The config text is checked, nginx must accept it, and a real nginx in front of a recording stand-in
upstream (no Triton) shows what reaches the server and what does not.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from rawvision.server.embedded import free_ports
from rawvision.server.front import Certificate, self_signed_certificate
from rawvision.server.nginx import (
    CONTENT_SECURITY_POLICY,
    PAGE_FILES,
    Guard,
    Nginx,
    admin_key_line,
    copy_page,
    key_map_line,
    nginx_config,
)

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make setup)")
KEY = "page-test-key-1"
ADMIN = "page-admin-key"
ORIGIN = {"Origin": "https://localhost"}


def guard(certificate: Certificate, admin_key: str | None = ADMIN) -> Guard:
    return Guard(KEY, certificate.certificate, certificate.private_key, 100_000, 1000, 1000, admin_key=admin_key)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("cert"))


def test_the_page_files_ship_in_the_package_without_inline_script_or_style(tmp_path: Path) -> None:
    folder = copy_page(tmp_path / "page")
    assert sorted(p.name for p in folder.iterdir()) == sorted(PAGE_FILES)
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert '<script src="page.js" defer></script>' in html and '<link rel="stylesheet" href="page.css">' in html
    assert html.count("<script") == 1 and "<style" not in html and " style=" not in html
    assert " on" not in html.replace(" only", "").split("<body>")[1].split(">")[0]  # no onload= on body
    assert '<meta name="viewport"' in html and 'aria-live="polite"' in html
    assert 'for="files"' in html and 'type="password"' in html


def test_config_serves_the_page_with_its_headers_and_keeps_browsers_off_the_admin_apis(
        tmp_path: Path, certificate: Certificate) -> None:
    text = nginx_config(tmp_path, 9443, ["127.0.0.1:1"], guard=guard(certificate), page=tmp_path / "page")
    assert text.count(f'add_header Content-Security-Policy "{CONTENT_SECURITY_POLICY}" always;') == 2
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert text.count("add_header X-Content-Type-Options nosniff always;") == 2
    assert text.count("add_header Referrer-Policy no-referrer always;") == 2
    assert "location = / {" in text and f"root {tmp_path / 'page'};" in text
    assert "if ($rawvision_browser_refused) { return 403; }" in text
    assert "/v2/repository/index 0;" in text and "~^/v2/(repository|" in text
    assert ADMIN not in text and f"include {tmp_path / 'admin-key.map'};" in text  # the key stays out
    assert admin_key_line(ADMIN) == f'        /v2/repository/index "{ADMIN}";\n'
    without = nginx_config(tmp_path, 9443, ["127.0.0.1:1"], guard=guard(certificate, None))
    assert "admin-key.map" not in without and "location = / {" not in without  # no page folder given: no page
    for bad in ("", 'a"b', "a b", "a;b"):
        with pytest.raises(ValueError):
            admin_key_line(bad)


@needs_nginx
def test_nginx_accepts_the_page_config(tmp_path: Path, certificate: Certificate) -> None:
    assert NGINX is not None
    (tmp_path / "api-key.map").write_text(key_map_line(KEY))
    (tmp_path / "admin-key.map").write_text(admin_key_line(ADMIN))
    config = tmp_path / "nginx.conf"
    config.write_text(nginx_config(tmp_path, 9443, ["127.0.0.1:1"], guard=guard(certificate),
                                   page=copy_page(tmp_path / "page")))
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(config), "-e", str(tmp_path / "e.log")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@dataclass(frozen=True)
class Seen:
    """One request as the stand-in upstream received it."""

    method: str
    path: str
    headers: dict[str, str]


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with ``[]`` and records it."""

    seen: ClassVar[list[Seen]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def front(certificate: Certificate) -> Iterator[tuple[Nginx, ssl.SSLContext]]:
    if NGINX is None:
        pytest.skip("nginx is not installed (make setup)")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    context = ssl.create_default_context(cafile=str(certificate.certificate))
    try:
        with Nginx(free_ports(1)[0], [f"127.0.0.1:{upstream.server_address[1]}"], guard=guard(certificate)) as nginx:
            yield nginx, context
    finally:
        upstream.shutdown()
        upstream.server_close()


def call(front: tuple[Nginx, ssl.SSLContext], path: str, headers: dict[str, str],
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    nginx, context = front
    request = urllib.request.Request(f"https://localhost:{nginx.port}{path}", data=body, headers=headers,
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def last_seen(path: str) -> Seen | None:
    return next((seen for seen in reversed(Recorder.seen) if seen.path == path), None)


@pytest.mark.parametrize("name", ["", "index.html", "page.css", "page.js"])
def test_the_page_is_served_without_the_key_with_its_headers(front: tuple[Nginx, ssl.SSLContext], name: str) -> None:
    status, headers, body = call(front, f"/{name}", {})
    assert status == 200
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    expected = {"": "text/html", "index.html": "text/html", "page.css": "text/css", "page.js": "text/javascript"}
    assert headers["Content-Type"].split(";")[0] == expected[name]
    assert body == (Path(__file__).parents[2] / "src/rawvision/server/page" / (name or "index.html")).read_bytes()


def test_other_paths_still_need_the_key(front: tuple[Nginx, ssl.SSLContext]) -> None:
    assert call(front, "/v2/models/mnist", {})[0] == 401
    assert call(front, "/page.json", {})[0] == 401


@pytest.mark.parametrize("path", ["/v2/repository/models/mnist/load", "/v2/repository/models/mnist/unload",
                                  "/v2/repository/index/../models/x/load", "/v2/trace/setting", "/v2/logging",
                                  "/v2/systemsharedmemory/region/x/register", "/v2/models/mnist/trace/setting"])
def test_browsers_cannot_reach_model_control_or_admin_apis(front: tuple[Nginx, ssl.SSLContext], path: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    Recorder.seen.clear()
    status, _, body = call(front, path, {**auth, **ORIGIN}, b"{}")
    assert status == 403 and "browsers" in json.loads(body)["error"]
    assert Recorder.seen == []
    assert call(front, path, auth, b"{}")[0] == 200  # operators' tools (no Origin) pass as before
    assert call(front, path, ORIGIN, b"{}")[0] == 401  # and nobody passes without the key


def test_the_index_is_open_to_key_holders_with_the_front_s_admin_key(front: tuple[Nginx, ssl.SSLContext]) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    status, headers, body = call(front, "/v2/repository/index", {**auth, **ORIGIN}, b'{"ready":true}')
    assert (status, body) == (200, b"[]")
    seen = last_seen("/v2/repository/index")
    assert seen is not None and seen.headers["rawvision-admin-key"] == ADMIN and "authorization" not in seen.headers
    assert headers["Server-Timing"].startswith('upstream;desc="')
    assert call(front, "/v2/repository/index", ORIGIN, b"{}")[0] == 401


def test_the_admin_key_goes_with_the_index_alone(front: tuple[Nginx, ssl.SSLContext]) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    call(front, "/v2/models/mnist/infer", {**auth, **ORIGIN}, b"{}")
    seen = last_seen("/v2/models/mnist/infer")
    assert seen is not None and "rawvision-admin-key" not in seen.headers
    call(front, "/v2/repository/models/mnist/load", {**auth, "rawvision-admin-key": "operators-own"}, b"{}")
    seen = last_seen("/v2/repository/models/mnist/load")
    assert seen is not None and seen.headers["rawvision-admin-key"] == "operators-own"
