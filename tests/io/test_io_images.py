"""Images: every format and kind round-trips, orientation is applied, metadata never leaves,
and every bad input fails alone with a one-line reason."""

from __future__ import annotations

import builtins
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from understudy.errors import InputError
from understudy.io.images import MIN_SIDE, Picture, encode_image, read_image, write_image

SECRET = b"SECRET-person-name"


def scene(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, asymmetric test picture (lossy codecs keep it close)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1)
    img[: h // 4, : w // 4] = (250, 20, 20)  # a red corner at the top-left
    return img.astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


# --- metadata inspection, per container ------------------------------------------------------

def jpeg_markers(data: bytes) -> set[int]:
    markers, i = set(), 2
    while i < len(data) - 4 and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        markers.add(marker)
        i += 2 + length
    return markers


def png_chunks(data: bytes) -> list[bytes]:
    chunks, i = [], 8
    while i < len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        chunks.append(data[i + 4:i + 8])
        i += 12 + length
    return chunks


def webp_chunks(data: bytes) -> list[bytes]:
    chunks, i = [], 12
    while i + 8 <= len(data):
        fourcc, size = data[i:i + 4], struct.unpack("<I", data[i + 4:i + 8])[0]
        chunks.append(fourcc)
        i += 8 + size + (size & 1)
    return chunks


TIFF_STRUCTURE = {256, 257, 258, 259, 262, 273, 274, 277, 278, 279, 282, 283, 284, 296, 317,
                  320, 338, 339, 322, 323, 324, 325, 284}


def assert_no_metadata(data: bytes, fmt: str) -> None:
    assert SECRET not in data
    assert b"Exif" not in data and b"xmpmeta" not in data and b"adobe:ns:meta" not in data
    if fmt == "JPEG":
        # APP1 (EXIF/XMP), APP2 (ICC), APP13 (IPTC), COM.
        assert not jpeg_markers(data) & {0xE1, 0xE2, 0xED, 0xFE}, jpeg_markers(data)
    elif fmt == "PNG":
        assert set(png_chunks(data)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"sBIT"}, \
            png_chunks(data)
    elif fmt == "WEBP":
        assert set(webp_chunks(data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}, webp_chunks(data)
        if b"VP8X" in webp_chunks(data):
            flags = data[20]
            assert not flags & 0b00101100, "VP8X announces ICC, EXIF or XMP"
    elif fmt == "TIFF":
        tags = set(Image.open(io.BytesIO(data)).tag_v2.keys())
        assert tags <= TIFF_STRUCTURE, tags - TIFF_STRUCTURE


def with_metadata(fmt: str) -> dict:
    """Save options that put EXIF (with GPS), XMP, ICC and comments/text into a file."""
    exif = Image.Exif()
    exif[0x010F] = "SECRET-person-name camera"  # Make
    exif[0x013B] = SECRET.decode()  # Artist
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET + b"</x:xmpmeta>"
    icc = b"\x00\x00\x02\x0cICC-" + SECRET + b"\x00" * 64
    opts: dict = {"exif": exif.tobytes(), "icc_profile": icc}
    if fmt in ("JPEG", "WEBP", "PNG"):
        opts["xmp"] = xmp
    if fmt == "JPEG":
        opts["comment"] = SECRET
    if fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Author", SECRET.decode())
        info.add_text("Comment", SECRET.decode(), zip=True)
        info.add_itxt("Description", SECRET.decode())
        opts["pnginfo"] = info
    if fmt == "TIFF":
        opts["tiffinfo"] = {270: SECRET.decode(), 315: SECRET.decode(), 305: "SECRET-tool",
                            33432: SECRET.decode(), 700: xmp}
    return opts


# --- round trips -------------------------------------------------------------------------

LOSSLESS = [("png", "PNG", {}), ("tiff", "TIFF", {"compression": "tiff_lzw"}),
            ("bmp", "BMP", {}), ("webp", "WEBP", {"lossless": True})]
LOSSY = [("jpg", "JPEG", {"quality": 95}), ("webp", "WEBP", {"quality": 90})]


@pytest.mark.parametrize("ext,fmt,kw", LOSSLESS)
def test_lossless_formats_round_trip_exactly(tmp_path: Path, ext, fmt, kw):
    rgb = scene()
    src = save(Image.fromarray(rgb), tmp_path / f"in.{ext}", format=fmt, **kw)
    pic = read_image(src)
    assert pic.format == fmt and pic.mode == "rgb" and pic.alpha is None and pic.high is None
    assert np.array_equal(pic.rgb, rgb)
    out = tmp_path / f"out.{ext}"
    changed = pic.rgb.copy()
    changed[20:30, 30:40] = 0
    write_image(out, pic, changed)
    back = read_image(out)
    assert back.format == fmt and back.mode == "rgb"
    assert np.array_equal(back.rgb, changed)


@pytest.mark.parametrize("ext,fmt,kw", LOSSY)
def test_lossy_formats_round_trip_closely(tmp_path: Path, ext, fmt, kw):
    rgb = scene(96, 128)
    src = save(Image.fromarray(rgb), tmp_path / f"in.{ext}", format=fmt, **kw)
    pic = read_image(src)
    assert pic.format == fmt and pic.mode == "rgb"
    assert psnr(pic.rgb, rgb) > 30
    write_image(tmp_path / f"out.{ext}", pic, pic.rgb)
    back = read_image(tmp_path / f"out.{ext}")
    assert back.format == fmt and psnr(back.rgb, pic.rgb) > 33


def test_format_follows_content_not_extension(tmp_path: Path):
    src = save(Image.fromarray(scene()), tmp_path / "really_png.jpg", format="PNG")
    pic = read_image(src)
    assert pic.format == "PNG"
    write_image(tmp_path / "out.jpg", pic, pic.rgb)
    assert (tmp_path / "out.jpg").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("ext,fmt", [("png", "PNG"), ("jpg", "JPEG"), ("tiff", "TIFF"),
                                     ("bmp", "BMP")])
def test_grayscale_stays_grayscale(tmp_path: Path, ext, fmt):
    gray = scene()[..., 1]
    src = save(Image.fromarray(gray, "L"), tmp_path / f"g.{ext}", format=fmt)
    pic = read_image(src)
    assert pic.mode == "gray" and pic.rgb.shape == (48, 64, 3)
    assert np.array_equal(pic.rgb[..., 0], pic.rgb[..., 2])
    edit = pic.rgb.copy()
    edit[:10, :10] = (200, 10, 10)  # a coloured method output still goes back to grey
    write_image(tmp_path / f"o.{ext}", pic, edit)
    with Image.open(tmp_path / f"o.{ext}") as out:
        assert out.mode in ("L", "P") and out.format == fmt  # Pillow writes grey BMP as P
    back = read_image(tmp_path / f"o.{ext}")
    if fmt != "JPEG":
        assert np.array_equal(back.rgb[10:, 10:], pic.rgb[10:, 10:])


def test_bilevel_stays_bilevel(tmp_path: Path):
    bits = (scene()[..., 0] > 128).astype(np.uint8) * 255
    src = save(Image.fromarray(bits, "L").convert("1"), tmp_path / "b.png")
    pic = read_image(src)
    assert pic.mode == "gray1"
    write_image(tmp_path / "o.png", pic, pic.rgb)
    with Image.open(tmp_path / "o.png") as out:
        assert out.mode == "1"
    assert np.array_equal(read_image(tmp_path / "o.png").rgb, pic.rgb)


@pytest.mark.parametrize("ext,fmt,kw", [("png", "PNG", {}), ("tiff", "TIFF", {}),
                                        ("webp", "WEBP", {"lossless": True, "exact": True})])
def test_rgba_keeps_alpha(tmp_path: Path, ext, fmt, kw):
    rgb = scene()
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    src = save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), tmp_path / f"a.{ext}",
               format=fmt, **kw)
    pic = read_image(src)
    assert pic.mode == "rgba" and np.array_equal(pic.alpha, alpha)
    assert np.array_equal(pic.rgb, rgb)
    edit = pic.rgb.copy()
    edit[5:15, 5:15] = 0
    write_image(tmp_path / f"o.{ext}", pic, edit)
    back = read_image(tmp_path / f"o.{ext}")
    assert back.mode == "rgba"
    assert np.array_equal(back.alpha, alpha)
    assert np.array_equal(back.rgb, edit)


def test_gray_alpha_keeps_alpha(tmp_path: Path):
    gray = scene()[..., 0]
    alpha = np.full_like(gray, 128)
    src = save(Image.fromarray(np.dstack([gray, alpha]), "LA"), tmp_path / "la.png")
    pic = read_image(src)
    assert pic.mode == "graya" and np.array_equal(pic.alpha, alpha)
    write_image(tmp_path / "o.png", pic, pic.rgb)
    with Image.open(tmp_path / "o.png") as out:
        assert out.mode == "LA"
        assert np.array_equal(np.asarray(out)[..., 1], alpha)


def test_palette_image_keeps_its_palette(tmp_path: Path):
    pal_img = Image.fromarray(scene()).quantize(colors=16)
    src = save(pal_img, tmp_path / "p.png")
    pic = read_image(src)
    assert pic.mode == "palette"
    edit = pic.rgb.copy()
    edit[:8, :8] = (0, 0, 0)
    write_image(tmp_path / "o.png", pic, edit)
    with Image.open(tmp_path / "o.png") as out:
        assert out.mode == "P"
    back = read_image(tmp_path / "o.png")
    assert np.array_equal(back.rgb[8:], pic.rgb[8:])  # untouched pixels: exact colours


@pytest.mark.parametrize("ext", ["png", "tiff"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_untouched_pixels_keep_exact_values(tmp_path: Path, ext, channels):
    rng = np.random.default_rng(0)
    shape = (40, 56) if channels == 1 else (40, 56, channels)
    high = rng.integers(0, 65536, shape, dtype=np.uint16)
    src = tmp_path / f"h.{ext}"
    assert cv2.imwrite(str(src), high)  # OpenCV order: BGR(A)
    pic = read_image(src)
    expected_mode = {1: "gray16", 3: "rgb16", 4: "rgba16"}[channels]
    assert pic.mode == expected_mode and pic.high.dtype == np.uint16
    if channels == 4:
        assert np.array_equal(pic.alpha, high[..., 3])
    edit = pic.rgb.copy()
    edit[10:20, 10:30] = (77, 77, 77)
    out = tmp_path / f"o.{ext}"
    write_image(out, pic, edit)
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.shape == high.shape
    outside = np.ones((40, 56), bool)
    outside[10:20, 10:30] = False
    assert np.array_equal(back[outside], high[outside])  # exact 16-bit values kept
    # Inside the edit: v*257, except where the method's value equals the 8-bit view of the
    # original (it did not change that pixel), which keeps its exact original.
    kept = np.all(pic.rgb[10:20, 10:30] == 77, axis=-1)
    inside, orig = back[10:20, 10:30], high[10:20, 10:30]
    if channels > 1:
        inside, orig = inside[..., :3], orig[..., :3]
        kept = kept[..., None]
    assert np.all(np.where(kept, inside == orig, inside == 77 * 257))
    assert not kept.all()
    if channels == 4:
        assert np.array_equal(back[..., 3], high[..., 3])


def test_16bit_orientation_applies_to_high_bits(tmp_path: Path):
    high = np.arange(16 * 24, dtype=np.uint16).reshape(16, 24) * 100
    exif = Image.Exif()
    exif[0x0112] = 6
    src = save(Image.fromarray(high), tmp_path / "r.png", exif=exif.tobytes())
    pic = read_image(src)
    assert pic.high.shape == (24, 16)
    assert np.array_equal(pic.high, np.rot90(high, -1))


# --- orientation ---------------------------------------------------------------------------

def test_jpeg_exif_orientation_6_is_applied(tmp_path: Path):
    rgb = scene(48, 64)  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    src = save(Image.fromarray(rgb), tmp_path / "o6.jpg", exif=exif.tobytes(), quality=95)
    pic = read_image(src)
    assert pic.rgb.shape == (64, 48, 3)  # upright: taller than wide
    red = (pic.rgb[..., 0] > 200) & (pic.rgb[..., 1] < 80) & (pic.rgb[..., 2] < 80)
    ys, xs = np.nonzero(red)
    assert ys.mean() < 16 and xs.mean() > 32  # top-left went to the top-right
    write_image(tmp_path / "out.jpg", pic, pic.rgb)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (48, 64) and 0x0112 not in out.getexif()  # upright, no tag left


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path: Path, orientation):
    rgb = scene(20, 30)
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = save(Image.fromarray(rgb), tmp_path / "o.png", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(src)))
    assert np.array_equal(read_image(src).rgb, expected)


# --- metadata ------------------------------------------------------------------------------

@pytest.mark.parametrize("ext,fmt,extra", [("jpg", "JPEG", {}), ("png", "PNG", {}),
                                           ("webp", "WEBP", {"lossless": True}),
                                           ("tiff", "TIFF", {}), ("bmp", "BMP", {})])
def test_metadata_is_stripped(tmp_path: Path, ext, fmt, extra):
    kw = {} if fmt == "BMP" else with_metadata(fmt)
    src = save(Image.fromarray(scene()), tmp_path / f"m.{ext}", format=fmt, **kw, **extra)
    if fmt != "BMP":
        assert SECRET in src.read_bytes()  # the input really carries it
    pic = read_image(src)
    out = tmp_path / f"o.{ext}"
    write_image(out, pic, pic.rgb)
    assert_no_metadata(out.read_bytes(), fmt)


@pytest.mark.parametrize("ext", ["png", "tiff"])
def test_16bit_outputs_carry_no_metadata(tmp_path: Path, ext):
    high = np.random.default_rng(1).integers(0, 65536, (24, 32, 3), dtype=np.uint16)
    src = tmp_path / f"h.{ext}"
    cv2.imwrite(str(src), high)
    pic = read_image(src)
    assert_no_metadata(encode_image(pic, pic.rgb), "PNG" if ext == "png" else "TIFF")


def test_rgba_and_gray_outputs_carry_no_metadata(tmp_path: Path):
    rgba = np.dstack([scene(), np.full((48, 64), 200, np.uint8)])
    for mode, arr in [("RGBA", rgba), ("L", scene()[..., 0])]:
        for fmt, ext in [("PNG", "png"), ("TIFF", "tiff"), ("WEBP", "webp")]:
            if mode == "L" and fmt == "WEBP":
                continue
            src = save(Image.fromarray(arr, mode), tmp_path / f"{mode}.{ext}", format=fmt,
                       **with_metadata(fmt))
            pic = read_image(src)
            assert_no_metadata(encode_image(pic, pic.rgb), fmt)


# --- bad input -----------------------------------------------------------------------------

def fails(path: Path, match: str, **kw) -> str:
    with pytest.raises(InputError) as info:
        read_image(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    assert match in msg, msg
    return msg


def test_zero_byte_file(tmp_path: Path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    fails(p, "empty file")


def test_text_file_named_jpg(tmp_path: Path):
    p = tmp_path / "notes.jpg"
    p.write_text("these are not pixels\n" * 20)
    fails(p, "not an image")


def test_unsupported_real_image_format(tmp_path: Path):
    p = save(Image.fromarray(scene()), tmp_path / "anim.jpg", format="GIF")
    fails(p, "unsupported image format GIF")


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"),
                                     ("TIFF", "tiff")])
def test_truncated_image(tmp_path: Path, fmt, ext):
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format=fmt)
    data = buf.getvalue()
    p = tmp_path / f"cut.{ext}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as info:
        read_image(p)
    assert str(p) in str(info.value) and ("corrupt" in str(info.value)
                                          or "truncated" in str(info.value))


def test_corrupt_png_data(tmp_path: Path):
    buf = io.BytesIO()
    Image.fromarray(scene()).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    start = data.index(b"IDAT") + 8
    data[start:start + 40] = b"\xff" * 40  # garbage in the compressed stream
    p = tmp_path / "bad.png"
    p.write_bytes(bytes(data))
    fails(p, "corrupt")


def test_one_pixel_image(tmp_path: Path):
    p = save(Image.new("RGB", (1, 1)), tmp_path / "dot.png")
    fails(p, "image is 1x1")
    ok = save(Image.new("RGB", (MIN_SIDE, MIN_SIDE)), tmp_path / "small.png")
    assert read_image(ok).rgb.shape == (MIN_SIDE, MIN_SIDE, 3)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds no pixel data: proves the size is checked from
    the header, before anything is decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_header_only(20000, 20000))
    fails(p, "image is 20000x20000")
    fails(p, "limit of 100 MP")
    # The limit is ours and configurable, above Pillow's own global one (179 MP): such a
    # header now gets past the size check and fails only when its (missing) pixels decode.
    msg = fails(p, "corrupt", max_pixels=500_000_000, max_memory=None)
    assert "limit" not in msg
    # Issue 16, defect 7: under the pixel limit, the memory budget still decides.
    fails(p, "memory budget of 2 GB", max_pixels=500_000_000)
    fails(p, "memory budget of 1 GB", max_pixels=500_000_000, max_memory=1024**3)


def test_memory_budget_bounds_a_small_file_of_many_pixels(tmp_path: Path):
    """Issue 16, defect 7: a few-KB PNG declaring 36 MP is refused before any pixel is
    decoded when its processing would exceed the worker's budget, and decodes under it."""
    from PIL import Image

    p = tmp_path / "flat.png"
    Image.new("RGB", (6000, 6000), (120, 130, 140)).save(p, optimize=True)
    assert p.stat().st_size < 200_000
    fails(p, "needs about 1.0 GB", max_memory=512 * 1024**2)
    assert read_image(p, max_memory=2 * 1024**3).rgb.shape == (6000, 6000, 3)


def test_real_large_bilevel_png_bomb(tmp_path: Path):
    p = tmp_path / "big.png"
    Image.new("1", (20000, 20000)).save(p, optimize=True)
    assert p.stat().st_size < 200_000  # tiny on disk, 400 MP when decoded
    fails(p, "image is 20000x20000")


def test_max_pixels_is_configurable(tmp_path: Path):
    p = save(Image.fromarray(scene()), tmp_path / "s.png")
    fails(p, "limit", max_pixels=1000)
    assert read_image(p, max_pixels=64 * 48).rgb.shape == (48, 64, 3)


def test_multipage_tiff_is_refused(tmp_path: Path):
    p = tmp_path / "pages.tiff"
    a, b = Image.fromarray(scene()), Image.fromarray(scene()[::-1].copy())
    a.save(p, save_all=True, append_images=[b])
    fails(p, "2 frames/pages")


def test_animated_png_is_refused(tmp_path: Path):
    p = tmp_path / "anim.png"
    a, b = Image.fromarray(scene()), Image.fromarray(scene()[::-1].copy())
    a.save(p, save_all=True, append_images=[b])
    fails(p, "2 frames/pages")


def test_camera_mpo_jpeg_is_read_as_jpeg_and_its_second_image_dropped(tmp_path: Path):
    p = tmp_path / "camera.jpg"
    main, preview = Image.fromarray(scene()), Image.fromarray(scene()[::-1].copy())
    main.save(p, format="MPO", save_all=True, append_images=[preview])
    with Image.open(p) as check:
        assert check.format == "MPO" and check.n_frames == 2
    pic = read_image(p)
    assert pic.format == "JPEG" and psnr(pic.rgb, scene()) > 30
    write_image(tmp_path / "out.jpg", pic, pic.rgb)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.format == "JPEG" and getattr(out, "n_frames", 1) == 1
    assert_no_metadata((tmp_path / "out.jpg").read_bytes(), "JPEG")


def test_unreadable_file(tmp_path: Path, monkeypatch):
    p = save(Image.fromarray(scene()), tmp_path / "locked.png")
    if os.geteuid() != 0:
        p.chmod(0)
        try:
            fails(p, "permission denied")
        finally:
            p.chmod(0o644)
        return
    # Root reads anything: make open() refuse this one file, as the kernel would for a user.
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if str(file) == str(p):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    fails(p, "permission denied")


def test_symlink_loop(tmp_path: Path):
    p = tmp_path / "loop.jpg"
    os.symlink("loop.jpg", p)
    fails(p, "symlink loop")


def test_missing_file(tmp_path: Path):
    fails(tmp_path / "gone.png", "file not found")


def test_spaces_and_unicode_in_path(tmp_path: Path):
    folder = tmp_path / "été 2024 ✓"
    folder.mkdir()
    p = save(Image.fromarray(scene()), folder / "Zoë 写真 1.png")
    pic = read_image(p)
    out = tmp_path / "sortie ünï" / "Zoë 写真 1.png"
    write_image(out, pic, pic.rgb)
    assert np.array_equal(read_image(out).rgb, pic.rgb)


def test_write_checks_the_anonymized_array(tmp_path: Path):
    pic = Picture(scene(), None, None, "rgb", "PNG")
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "x.png", pic, scene().astype(np.float32))
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", pic, scene()[:10])
    assert not (tmp_path / "x.png").exists()
