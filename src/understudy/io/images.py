"""Read any supported image into the one shape methods see, and write the result back as
the same kind of file with no metadata.

Methods always get ``(H, W, 3) uint8`` RGB, upright (EXIF orientation applied). What that
view loses is kept on the side so the output is the same kind of file as the input: the
alpha channel, the exact 16-bit pixels, the palette, the encoder choices (JPEG chroma
subsampling, lossless WebP, TIFF compression). Nothing else is carried over: an output
holds no EXIF, GPS, XMP, ICC profile, comment or text chunk, whatever the input had.

16-bit files go through OpenCV because Pillow reads 16-bit RGB as 8-bit. Header sizes are
checked before any pixel is decoded, with our own limits rather than Pillow's global one:
a pixel count (``max_pixels``) and a memory budget (``max_memory``). A 118 KB PNG can
declare 100 MP, and decoding and anonymizing an image costs about ``PEAK_BYTES_PER_PIXEL``
bytes per pixel (measured: a 25 MP PNG through face blur peaked at 731 MB of RSS, read_image
alone at 375 MB), so the budget, not the file size, decides what a worker may take on.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from understudy.errors import InputError
from understudy.io.files import atomic_write, describe_os_error

MIN_SIDE = 8  # px; below this an image cannot hold a recognizable person
DEFAULT_MAX_PIXELS = 100_000_000  # decompression-bomb limit; a 100 MP photo is already rare
# Peak memory of one image through a worker, per pixel: decoder buffers, the RGB view, the
# anonymized copy, masks and the encoder. Measured ~29 B/px for 8-bit RGB (25 MP: 731 MB);
# 16-bit and alpha images keep extra full-size planes.
PEAK_BYTES_PER_PIXEL = {8: 30, 16: 45}
DEFAULT_MAX_MEMORY = 2 * 1024**3  # bytes per worker: ~70 MP of 8-bit RGB

FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")
# TIFF compressions written back as they came; anything else (e.g. JPEG-in-TIFF) as LZW.
_TIFF_COMPRESSIONS = {"raw", "tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"}
# EXIF orientation -> numpy transform making the image upright (Pillow's exif_transpose).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class Picture:
    """A decoded image: what methods see (``rgb``) and what is needed to write it back.

    ``mode`` names the kind of file to write: "rgb", "gray", "gray1" (bilevel), "palette",
    "rgba", "graya", or their 16-bit forms "gray16", "graya16", "rgb16", "rgba16".
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    high: np.ndarray | None
    mode: str
    format: str
    palette: list[int] | None = None  # RGB triples of a palette image, to map back onto
    save_options: dict[str, Any] = field(default_factory=dict)  # encoder choices only

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.rgb.shape[0], self.rgb.shape[1]


def _fail(path: Path, reason: str) -> InputError:
    return InputError(f"{path}: {reason}")


def _orient(array: np.ndarray | None, orientation: int) -> np.ndarray | None:
    if array is None or orientation not in _ORIENT:
        return array
    return np.ascontiguousarray(_ORIENT[orientation](array))


def _open_header(fp: BinaryIO, path: Path):
    """Open with Pillow's plugins directly (header only, no pixels): this skips Pillow's
    global decompression-bomb check so that our own, configurable limit decides."""
    from PIL import Image

    Image.init()
    prefix = fp.read(16)
    for name in FORMATS:
        factory, accept = Image.OPEN[name]
        if accept is not None and not accept(prefix):
            continue
        fp.seek(0)
        try:
            return factory(fp, str(path))
        except Exception as exc:  # Pillow raises SyntaxError, struct.error, ... on bad headers
            raise _fail(path, f"corrupt {name} header ({_short(exc)})") from None
    fp.seek(0)
    try:
        other = Image.open(fp)
        found = other.format
    except Exception:
        found = None
    if found:
        raise _fail(path, f"unsupported image format {found}; allowed: {', '.join(FORMATS)}")
    raise _fail(path, "not an image file (unrecognised content)")


def _format(img) -> str:
    """Pillow's format name, with a camera's multi-picture JPEG (MPO) counted as JPEG."""
    return "JPEG" if img.format == "MPO" else img.format


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _png_bit_depth(data: bytes) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR."""
    return data[24], data[25]


def _is_16bit(img, head: bytes) -> bool:
    if img.mode.startswith("I;16"):
        return True
    if img.format == "PNG":
        return _png_bit_depth(head)[0] == 16
    if img.format == "TIFF":
        bits = img.tag_v2.get(258)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(b == 16 for b in bits if b is not None)
    return False


def _orientation(img) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
        return int(value) if int(value) in _ORIENT else 1
    except Exception:  # broken EXIF must not fail the image: treat it as upright
        return 1


def to_8bit(high: np.ndarray) -> np.ndarray:
    """16-bit to 8-bit by rounding v/257, the inverse of the v*257 used on write."""
    return ((high.astype(np.uint32) + 128) // 257).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, exact for grey pixels (R = G = B = v gives v), like Pillow's "L"."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def _gray3(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _read_16bit(data: bytes, path: Path, img) -> Picture:
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.shape[:2] != (img.size[1], img.size[0]):
        raise _fail(path, f"corrupt or truncated {img.format} image (16-bit data unreadable)")
    if arr.dtype != np.uint16:
        arr = arr.astype(np.uint16) * 257 if arr.dtype == np.uint8 else arr.astype(np.uint16)
    gray_alpha = img.format == "PNG" and _png_bit_depth(data)[1] == 4
    if arr.ndim == 2:
        return Picture(_gray3(to_8bit(arr)), None, arr, "gray16", img.format)
    if arr.shape[2] == 2:
        gray, alpha = arr[..., 0], arr[..., 1]
        return Picture(_gray3(to_8bit(gray)), np.ascontiguousarray(alpha),
                       np.ascontiguousarray(gray), "graya16", img.format)
    if arr.shape[2] == 4:
        alpha = np.ascontiguousarray(arr[..., 3])
        if gray_alpha:
            gray = np.ascontiguousarray(arr[..., 0])
            return Picture(_gray3(to_8bit(gray)), alpha, gray, "graya16", img.format)
        high = np.ascontiguousarray(arr[..., 2::-1])
        return Picture(to_8bit(high), alpha, high, "rgba16", img.format)
    high = np.ascontiguousarray(arr[..., ::-1])
    return Picture(to_8bit(high), None, high, "rgb16", img.format)


def _read_8bit(img, path: Path) -> Picture:
    """Decode with Pillow and split into the RGB view plus what writing back needs."""
    mode = img.mode
    fmt = _format(img)
    if mode == "1":
        return Picture(_gray3(np.asarray(img.convert("L"))), None, None, "gray1", fmt)
    if mode == "L":
        return Picture(_gray3(np.asarray(img)), None, None, "gray", fmt)
    if mode in ("LA", "La"):
        arr = np.asarray(img.convert("LA"))
        return Picture(_gray3(arr[..., 0]), np.ascontiguousarray(arr[..., 1]), None, "graya", fmt)
    if mode in ("P", "PA"):
        if mode == "PA" or "transparency" in img.info:
            arr = np.asarray(img.convert("RGBA"))
            return Picture(np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3]),
                           None, "rgba", fmt)
        palette = img.getpalette("RGB") or []
        return Picture(np.asarray(img.convert("RGB")).copy(), None, None, "palette", fmt,
                       palette=list(palette))
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(img.convert("RGBA"))
        return Picture(np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3]),
                       None, "rgba", fmt)
    if mode == "I":
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise _fail(path, "unsupported 32-bit integer image (values outside 0..65535)")
        high = arr.astype(np.uint16)
        return Picture(_gray3(to_8bit(high)), None, high, "gray16", fmt)
    if mode == "F":
        raise _fail(path, "unsupported floating-point image")
    # RGB, RGBX, CMYK, YCbCr, LAB, HSV: methods and outputs use RGB. An RGB image needs no
    # converted copy (a full-size image less at peak: 4 bytes per pixel in Pillow).
    rgb = img if mode == "RGB" else img.convert("RGB")
    return Picture(np.array(rgb), None, None, "rgb", fmt)


def _save_options(img, data: bytes) -> dict[str, Any]:
    """Encoder choices worth keeping (never metadata)."""
    options: dict[str, Any] = {}
    if _format(img) == "JPEG" and img.mode in ("RGB", "YCbCr", "CMYK"):
        from PIL import JpegImagePlugin

        sampling = JpegImagePlugin.get_sampling(img)
        if sampling in (0, 1, 2):
            options["subsampling"] = sampling
    elif img.format == "WEBP":
        # A lossless WebP has a VP8L chunk; lossy ones have "VP8 ". Keep it lossless so
        # pixels the method did not touch stay exact.
        options["lossless"] = b"VP8L" in data[:4096]
    elif img.format == "TIFF":
        compression = img.info.get("compression", "raw")
        options["compression"] = compression if compression in _TIFF_COMPRESSIONS else "tiff_lzw"
    return options


def estimated_memory(width: int, height: int, high_depth: bool) -> int:
    """Bytes one worker needs at peak to decode, anonymize and write such an image."""
    return width * height * PEAK_BYTES_PER_PIXEL[16 if high_depth else 8]


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_memory: int | None = DEFAULT_MAX_MEMORY) -> Picture:
    """Decode one image file, upright, after checking it is safe and sensible to decode.

    Raises ``InputError`` ("<path>: <reason>") for an empty, unreadable, corrupt, truncated,
    unsupported, too small (< MIN_SIDE px) or too large (> ``max_pixels``, or needing more
    than ``max_memory`` bytes to process; None: no budget) file.
    """
    path = Path(path)
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    if max_memory is not None and max_memory < 1:
        raise ValueError(f"max_memory must be >= 1 byte, got {max_memory}")
    try:
        st = os.stat(path)
        with open(path, "rb") as fp:
            if st.st_size == 0:
                raise _fail(path, "empty file (0 bytes)")
            img = _open_header(fp, path)
            width, height = img.size
            if width * height > max_pixels:
                raise _fail(path, f"image is {width}x{height} = {width * height / 1e6:.0f} MP, "
                                  f"above the limit of {max_pixels / 1e6:g} MP (max_pixels)")
            if min(width, height) < MIN_SIDE:
                raise _fail(path, f"image is {width}x{height}, too small to hold a person "
                                  f"(minimum {MIN_SIDE} px per side)")
            fp.seek(0)
            head = fp.read(32)
            high_depth = _is_16bit(img, head) or "A" in img.mode or "transparency" in img.info
            need = estimated_memory(width, height, high_depth)
            if max_memory is not None and need > max_memory:
                raise _fail(path, f"image is {width}x{height} = {width * height / 1e6:.0f} MP; "
                                  f"processing it needs about {need / 1024**3:.1f} GB, above "
                                  f"the memory budget of {max_memory / 1024**3:g} GB per "
                                  f"worker (--max-memory)")
            try:
                frames = getattr(img, "n_frames", 1)
            except Exception as exc:
                raise _fail(path, f"corrupt {img.format} image ({_short(exc)})") from None
            # Extra pages/frames would leave the method's reach; an MPO (many cameras' JPEG)
            # is the exception: its second image is a preview or depth map, dropped on write.
            if frames > 1 and _format(img) != "JPEG":
                raise _fail(path, f"{img.format} with {frames} frames/pages is not supported; "
                                  f"split it into single images")
            fp.seek(0)
            data = fp.read()
            options = _save_options(img, data)
            try:
                if _is_16bit(img, data[:32]):
                    picture = _read_16bit(data, path, img)
                else:
                    img.load()
                    picture = _read_8bit(img, path)
            except InputError:
                raise
            except MemoryError:
                raise _fail(path, "not enough memory to decode the image") from None
            except Exception as exc:
                raise _fail(path, f"corrupt or truncated {img.format} image "
                                  f"({_short(exc)})") from None
            # After decoding: for PNG, Pillow reads EXIF by loading the whole file, and a
            # decoding error swallowed there would let a corrupt image through.
            orientation = _orientation(img)
    except OSError as exc:
        raise _fail(path, describe_os_error(exc)) from None
    picture.rgb = _orient(picture.rgb, orientation)
    picture.alpha = _orient(picture.alpha, orientation)
    picture.high = _orient(picture.high, orientation)
    picture.save_options = options
    return picture


def _encode_16bit(picture: Picture, rgb: np.ndarray, changed: np.ndarray) -> bytes:
    """16-bit output: untouched pixels keep their exact 16-bit values, changed ones v*257."""
    import cv2

    high = picture.high
    if picture.mode in ("gray16", "graya16"):
        gray = np.where(changed, luma(rgb).astype(np.uint16) * 257, high).astype(np.uint16)
        if picture.mode == "gray16":
            arr = gray
        else:
            # OpenCV writes no 2-channel PNG/TIFF: grey + alpha goes out as 16-bit RGBA.
            arr = np.dstack([gray, gray, gray, picture.alpha.astype(np.uint16)])
    else:
        color = np.where(changed[..., None], rgb.astype(np.uint16) * 257, high).astype(np.uint16)
        arr = color[..., ::-1]
        if picture.mode == "rgba16":
            arr = np.dstack([arr, picture.alpha.astype(np.uint16)])
    ext = ".png" if picture.format == "PNG" else ".tiff"
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(arr))
    if not ok:
        raise OSError(f"OpenCV could not encode a 16-bit {picture.format}")
    return buf.tobytes()


def _alpha8(alpha: np.ndarray) -> np.ndarray:
    return alpha if alpha.dtype == np.uint8 else to_8bit(alpha)


def _to_pil(picture: Picture, rgb: np.ndarray):
    from PIL import Image

    mode = picture.mode
    if mode == "gray":
        return Image.fromarray(luma(rgb), "L")
    if mode == "gray1":
        return Image.fromarray(luma(rgb), "L").point(lambda v: 255 if v >= 128 else 0
                                                     ).convert("1", dither=Image.Dither.NONE)
    if mode == "graya":
        return Image.fromarray(np.dstack([luma(rgb), _alpha8(picture.alpha)]), "LA")
    if mode == "rgba":
        return Image.fromarray(np.dstack([rgb, _alpha8(picture.alpha)]), "RGBA")
    if mode == "palette" and picture.palette:
        # Map onto the original palette: untouched pixels find their exact colour again.
        pal = Image.new("P", (1, 1))
        pal.putpalette(picture.palette)
        return Image.fromarray(rgb, "RGB").quantize(palette=pal, dither=Image.Dither.NONE)
    return Image.fromarray(rgb, "RGB")


def encode_image(picture: Picture, rgb: np.ndarray, quality: int = 95) -> bytes:
    """The bytes ``write_image`` writes: ``rgb`` as the same format and kind as ``picture``."""
    if rgb.shape != picture.rgb.shape or rgb.dtype != np.uint8:
        raise ValueError(f"anonymized image must be {picture.rgb.shape} uint8 like the input, "
                         f"got {rgb.shape} {rgb.dtype}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    rgb = np.ascontiguousarray(rgb)
    if picture.high is not None and picture.format in ("PNG", "TIFF"):
        changed = np.any(rgb != picture.rgb, axis=2)
        return _encode_16bit(picture, rgb, changed)
    img = _to_pil(picture, rgb)
    fmt = picture.format
    opts: dict[str, Any] = {}
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        opts = {"quality": quality}
        if "subsampling" in picture.save_options and img.mode == "RGB":
            opts["subsampling"] = picture.save_options["subsampling"]
    elif fmt == "WEBP":
        if picture.save_options.get("lossless"):
            opts = {"lossless": True, "exact": True}
        else:
            opts = {"quality": quality}
    elif fmt == "TIFF":
        opts = {"compression": picture.save_options.get("compression", "tiff_lzw")}
    elif fmt == "BMP" and img.mode == "LA":
        img = img.convert("RGBA")
    buf = io.BytesIO()
    # A fresh image from arrays carries no info dict, so Pillow writes no metadata.
    img.save(buf, format=fmt, **opts)
    return buf.getvalue()


def write_image(path: Path, picture: Picture, rgb: np.ndarray, quality: int = 95) -> None:
    """Atomically write the anonymized ``rgb`` (H, W, 3) uint8 as the same kind of file as
    ``picture`` (format, grey/colour/palette, alpha, 16-bit), with no metadata at all."""
    data = encode_image(picture, rgb, quality)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fp:
            fp.write(data)

    atomic_write(Path(path), write)
