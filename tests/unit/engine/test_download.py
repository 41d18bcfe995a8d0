"""Dataset download and extraction against an HTTP server on 127.0.0.1 that the test starts."""
import http.server
import io
import threading
import zipfile

import pytest
from PIL import Image

from cyclegan.configtools import UserError
from cyclegan.download import ensure_dataset


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buf, "JPEG")
    return buf.getvalue()


GOOD = make_zip({f"tiny/{split}/x.jpg": jpeg() for split in ("trainA", "trainB", "testA", "testB")})
ROUTES = {
    "/tiny.zip": (200, "application/zip", GOOD),
    "/slip.zip": (200, "application/zip", make_zip({"slip/trainA/x.jpg": jpeg(), "slip/../../evil.txt": b"x"})),
    "/abs.zip": (200, "application/zip", make_zip({"/tmp/evil-abs.txt": b"x"})),
    "/html.zip": (200, "text/html", b"<html><body>Not here</body></html>"),
    "/cut.zip": (200, "application/zip", GOOD[: len(GOOD) // 2]),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/short.zip":  # promises more bytes than it sends
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[:100])
            return
        status, kind, body = ROUTES.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_extracts_once_and_cleans_up(server, tmp_path):
    root = ensure_dataset("tiny", str(tmp_path), server)
    assert (root / "trainA" / "x.jpg").is_file() and (root / "testB" / "x.jpg").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]  # no zip, no .part, no staging folder
    assert ensure_dataset("tiny", str(tmp_path), "http://127.0.0.1:9/unused") == root  # cached: no request


@pytest.mark.parametrize("name, fragment", [
    ("slip", "zip-slip"), ("abs", "zip-slip"), ("missing", "HTTP 404"), ("html", "did not return a zip"),
    ("cut", "did not return a zip"), ("short", "cut short"),
])
def test_bad_downloads_are_refused_and_leave_nothing(server, tmp_path, name, fragment):
    with pytest.raises(UserError, match=fragment):
        ensure_dataset(name, str(tmp_path), server)
    assert not (tmp_path / name).exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".zip")] == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_offline_says_where_to_put_the_folder(tmp_path):
    with pytest.raises(UserError, match=r"unzip it so that .*horse2zebra/trainA exists"):
        ensure_dataset("horse2zebra", str(tmp_path), "http://127.0.0.1:9")
