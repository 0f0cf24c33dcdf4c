"""Every kind of bad input file, in one folder with good ones: each bad file fails alone as
one line on stderr and one ``failed`` row (or is listed as ``skipped``), the good ones are
written, the originals are untouched, and nothing is an "internal error"."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from adversarial.helpers import audit, no_temp_files, photo, sample, snapshot
from understudy.cli import main


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds no pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def noise(size=(64, 72), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = rng.integers(0, 256, (*size, channels), dtype=np.uint8)
    return Image.fromarray(array[..., 0] if channels == 1 else array, mode)


def bad_crc_png() -> bytes:
    buffer = io.BytesIO()
    noise().save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[40] ^= 0xFF  # inside the image data: the chunk's CRC no longer matches
    return bytes(data)


def encoded(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


JPEG = sample().read_bytes()

# name -> (content or a maker, expected status, a fragment of the reason)
CASES: dict[str, tuple] = {
    "empty.jpg": (b"", "failed", "empty file"),
    "truncated.jpg": (JPEG[: len(JPEG) // 3], "failed", "truncated"),
    "garbage.jpg": (os.urandom(3000), "failed", "not an image"),
    "text.png": (b"hello, I am not a picture\n", "failed", "not an image"),
    "page.jpg": (b"<html><script>alert(1)</script></html>", "failed", "not an image"),
    "animation.jpg": (lambda: encoded(noise(), "GIF"), "failed", "unsupported image format GIF"),
    "tiny.png": (lambda: encoded(noise((4, 4)), "PNG"), "failed", "too small"),
    "bomb.png": (png_header(20000, 20000), "failed", "above the limit"),
    "wide.png": (png_header(200000, 10), "failed", "corrupt"),
    "zero.png": (png_header(0, 10), "failed", "header"),
    "badcrc.png": (bad_crc_png, "failed", "corrupt"),
    "pages.tiff": (lambda: encoded(noise(), "TIFF", save_all=True,
                                   append_images=[noise()]), "failed", "frames/pages"),
    "float.tif": (lambda: encoded(Image.fromarray(np.ones((32, 32), np.float32)), "TIFF"),
                  "failed", "floating-point"),
    "cut.webp": (lambda: encoded(noise(), "WEBP")[:60], "failed", "corrupt"),
    "bad.bmp": (b"BM" + os.urandom(60), "failed", ""),
    "empty.mp4": (b"", "failed", "empty file"),
    "text.mp4": (b"not a video at all" * 50, "failed", "not a readable video"),
    "photo.mp4": (JPEG, "ok", ""),  # FFmpeg reads a JPEG as a one-frame video: fine
    "notes.gif": (lambda: encoded(noise(), "GIF"), "skipped", "not an image or video we read"),
    "README": (b"read me", "skipped", "no extension"),
    "data.json": (b"{}", "skipped", ".json"),
    # good files with hostile names or unusual content: processed
    "-dash.jpg": (JPEG, "ok", ""),
    "sp ace é 写真.jpg": (JPEG, "ok", ""),
    ("x" * 230) + ".jpg": (JPEG, "ok", ""),
    "SHOUT.JPG": (JPEG, "ok", ""),
    ".hidden.jpg": (JPEG, "ok", ""),
    "gray.png": (lambda: encoded(noise(mode="L"), "PNG"), "ok", ""),
    "alpha.png": (lambda: encoded(noise(mode="RGBA"), "PNG"), "ok", ""),
    "deep.png": (lambda: encoded(Image.fromarray(
        np.full((40, 48), 40000, np.uint16)), "PNG"), "ok", ""),
    "cmyk.jpg": (lambda: encoded(noise().convert("CMYK"), "JPEG"), "ok", ""),
    "palette.png": (lambda: encoded(noise().convert("P"), "PNG"), "ok", ""),
    "rotated.jpg": (lambda: encoded(noise(), "JPEG", exif=_exif_rotated()), "ok", ""),
}
RAW_NAMES = {b"bad\xff\xfe.jpg": (JPEG, "ok", ""),  # not valid UTF-8
             b"new\nline.jpg": (b"garbage", "failed", "not an image"),
             b"esc\x1b[31mred.jpg": (b"garbage", "failed", "not an image")}
LINKS = {"dangling.jpg": ("failed", "broken symlink"), "loop.jpg": ("failed", "symlink loop")}


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """One run of `understudy anonymize` over every case: (src, dst, rows, stderr, code)."""
    root = tmp_path_factory.mktemp("bad")
    src, dst = root / "src", root / "dst"
    src.mkdir()
    photo(src / "good" / "astronaut.jpg")
    for name, (content, _, _) in CASES.items():
        (src / name).write_bytes(content() if callable(content) else content)
    for raw, (content, _, _) in RAW_NAMES.items():
        with open(os.path.join(os.fsencode(src), raw), "wb") as fh:
            fh.write(content)
    os.symlink("nowhere.jpg", src / "dangling.jpg")
    os.symlink("loop.jpg", src / "loop.jpg")
    os.mkfifo(src / "pipe.jpg")
    before = snapshot(src)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["anonymize", str(src), "-o", str(dst), "--quiet", "--method", "maskout"])
    assert snapshot(src) == before, "an original changed"
    rows = {os.fsencode(row["output"]): row for row in audit(dst)}
    return src, dst, rows, err.getvalue().splitlines(), code


def expectations() -> list[tuple[bytes, str, str]]:
    out = [(os.fsencode(n), s, f) for n, (_, s, f) in CASES.items()]
    out += [(n, s, f) for n, (_, s, f) in RAW_NAMES.items()]
    out += [(os.fsencode(n), s, f) for n, (s, f) in LINKS.items()]
    out.append((b"pipe.jpg", "failed", "not a regular file"))
    return out


@pytest.mark.parametrize("name,status,fragment", expectations(),
                         ids=[repr(n)[2:-1][:30] for n, _, _ in expectations()])
def test_each_case(probe, name, status, fragment):
    src, dst, rows, _stderr, _code = probe
    row = rows[name]
    assert row["status"] == status, row
    reason = row.get("error", row.get("reason", ""))
    assert fragment in reason, row
    assert "internal error" not in reason and "\n" not in reason
    assert not reason.startswith(str(src)), "the reason repeats the path"
    if status == "ok" and row["kind"] == "video":
        assert os.path.isfile(os.path.join(os.fsencode(dst), name))
    elif status == "ok":
        with Image.open(os.path.join(os.fsencode(dst), name)) as image:
            image.load()
    else:
        assert not os.path.lexists(os.path.join(os.fsencode(dst), name))


def test_run_as_a_whole(probe):
    src, dst, rows, stderr, code = probe
    failed = [r for r in rows.values() if r["status"] == "failed"]
    assert code == 1 and failed
    assert rows[b"good/astronaut.jpg"]["status"] == "ok"
    # One line per failed input, each naming it once; control characters escaped.
    assert len(stderr) == len(failed), stderr
    assert all(line.startswith("understudy: ") for line in stderr)
    assert any("new\\nline.jpg" in line for line in stderr)
    assert not any("\x1b" in line for line in stderr)
    assert no_temp_files(dst)
    # The name that is not UTF-8 is recorded losslessly: back to the exact bytes.
    assert os.fsencode(rows[b"bad\xff\xfe.jpg"]["source"]).endswith(b"/bad\xff\xfe.jpg")
