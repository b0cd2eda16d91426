"""Generated cover art: a calm dusk landscape in a hue seeded from the title, with the title set on it."""

from __future__ import annotations

import colorsys
import hashlib
import io
import struct
import textwrap
import zlib
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from audioguide.errors import ExportError

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_SIZE = 1400
"""Apple Podcasts asks for square art of 1400 to 3000 pixels a side."""
MAX_SIZE = 3000


def _pillow() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType]:
    """Pillow's Image, ImageDraw, ImageFilter and ImageFont modules."""
    # Pillow takes 15-30 ms to import: only a cover drawn or read needs it, not a build whose cover
    # is cached, nor a series rebuild with nothing to do.
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    return Image, ImageDraw, ImageFilter, ImageFont


def make_cover(title: str, subtitle: str | None = None, size: int = MIN_SIZE) -> bytes:
    """A square RGB PNG, the same bytes for the same title, subtitle and size.

    The scene (a soft sky gradient, a low sun and three layers of hills) takes its hue and hill
    shapes from a hash of the title. The title (and subtitle) is drawn with Pillow's scalable
    default font.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ExportError(f"cover size must be {MIN_SIZE} to {MAX_SIZE} pixels, got {size}")
    pixels = _scene(title, size)
    image = _pillow()[0].fromarray(pixels, "RGB")
    image = _draw_text(image, title, subtitle)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)  # level 9 is 4x slower for 10% fewer bytes
    return out.getvalue()


USER_COVER_FORMATS = ("PNG", "JPEG")
FLATTEN_ONTO = (255, 255, 255)
"""Transparent parts of a user's cover are laid on white: Apple Podcasts refuses art with an alpha
channel, and players show transparent pixels in whatever colour their own background happens to be."""


def user_cover(data: bytes) -> tuple[bytes, int, int]:
    """A user's cover image (PNG or JPEG) as (RGB PNG bytes, width, height).

    An RGB PNG without transparency is kept byte for byte; anything else (an alpha channel, a
    palette, greyscale, CMYK, a JPEG) is flattened onto ``FLATTEN_ONTO`` and saved as an 8-bit RGB
    PNG, the one format the tags, the feed and the page take. ExportError if it is neither format.
    """
    PILImage = _pillow()[0]
    try:
        opened = PILImage.open(io.BytesIO(data))
        if max(opened.size) > MAX_SIZE:  # never decode a giant; the caller reports the size
            return data, opened.width, opened.height
        opened.load()  # every pixel: a PNG signature before an HTML page or a truncated file fails here
    except PILImage.UnidentifiedImageError:
        raise ExportError("its content does not decode as PNG or JPEG") from None
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
        raise ExportError(f"its content does not decode as PNG or JPEG ({exc})") from None
    if opened.format not in USER_COVER_FORMATS:
        raise ExportError(f"a {opened.format} image; expected PNG or JPEG")
    if opened.format == "PNG" and opened.mode == "RGB" and "transparency" not in opened.info:
        return data, opened.width, opened.height
    image: Image = opened
    if image.mode in ("P", "LA", "L") or "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        flat = PILImage.new("RGB", image.size, FLATTEN_ONTO)
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    else:
        image = image.convert("RGB")  # CMYK, YCbCr, I;16 and the like
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue(), image.width, image.height


def _seed(title: str) -> np.random.Generator:
    digest = hashlib.sha256(title.encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _scene(title: str, size: int) -> np.ndarray:
    """The landscape as an (size, size, 3) uint8 array, drawn in bands of rows to keep memory small."""
    rng = _seed(title)
    hue = rng.random()
    sun_x, sun_y, radius = 0.5 + rng.uniform(-0.18, 0.18), 0.6, 0.11
    layers = [
        (base, value, [rng.uniform(0, 2 * np.pi) for _ in (1, 2, 3)])
        for base, value in [(0.64, 0.62), (0.72, 0.46), (0.82, 0.30)]
    ]
    out = np.empty((size, size, 3), dtype=np.uint8)
    x = (np.arange(size, dtype=np.float64) + 0.5)[np.newaxis, :] / size
    hills = []
    for layer, (base, value, phases) in enumerate(layers):
        ridge = np.full_like(x, base)
        for harmonic, phase in zip((1, 2, 3), phases, strict=True):
            ridge = ridge + 0.035 / harmonic * np.sin(2 * np.pi * harmonic * (x + 0.3 * layer) + phase)
        hills.append((ridge, _rgb(hue - 0.04 * layer, 0.30 + 0.05 * layer, value)))
    band = 128
    for row in range(0, size, band):
        rows = min(band, size - row)
        y = (np.arange(row, row + rows, dtype=np.float64) + 0.5)[:, np.newaxis] / size  # 0 top .. 1 bottom

        # Sky: a deep, muted tone at the top easing into a pale warm glow at the horizon.
        top, glow = _rgb(hue, 0.45, 0.32), _rgb(hue + 0.09, 0.22, 0.95)
        t = _smoothstep(0.0, 0.72, y)[..., np.newaxis]
        image = np.broadcast_to(top * (1 - t) + glow * t, (rows, size, 3)).copy()

        # A low sun with a soft halo, slightly off centre.
        distance = np.hypot(x - sun_x, y - sun_y)
        sun = _rgb(hue + 0.11, 0.18, 1.0)
        halo = 0.35 * np.exp(-(((distance - radius).clip(0) / 0.12) ** 2))[..., np.newaxis]
        image = image * (1 - halo) + sun * halo
        disc = (1 - _smoothstep(radius - 1.5 / size, radius + 1.5 / size, distance))[..., np.newaxis]
        if disc.any():  # where disc is 0 the blend leaves every value as it is (x * 1 + 0)
            image = image * (1 - disc) + sun * disc

        # Three layers of gentle hills, darker and lower towards the viewer. A band wholly above a ridge
        # is left as it is and one wholly below it takes the hill's colour: the blend's own results
        # there (x * 1 + c * 0 and x * 0 + c * 1), without the passes over every pixel.
        for ridge, colour in hills:
            ground = _smoothstep(-1.0 / size, 1.0 / size, y - ridge)[..., np.newaxis]
            if not ground.any():
                continue
            if np.all(ground == 1.0):
                image = np.broadcast_to(colour, image.shape).copy()
                continue
            image = image * (1 - ground) + colour * ground

        out[row : row + rows] = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    return out


def _draw_text(image: Image, title: str, subtitle: str | None) -> Image:
    """Set the title (wrapped, centred in the upper sky) and an optional subtitle, over a soft shadow."""

    PILImage, ImageDraw, ImageFilter, ImageFont = _pillow()
    size = image.width
    text_layer = PILImage.new("RGBA", image.size, (0, 0, 0, 0))
    shadow_layer = PILImage.new("RGBA", image.size, (0, 0, 0, 0))
    draw, shadow = ImageDraw.Draw(text_layer), ImageDraw.Draw(shadow_layer)
    margin = size // 10
    y = size // 8
    for text, scale, fill in ((title, 13, (255, 255, 255, 255)), (subtitle, 26, (240, 242, 245, 255))):
        if not text:
            continue
        font_size = size // scale
        font = ImageFont.load_default(size=font_size)
        # Shrink the type until the wrapped text fits in at most four lines across the margins.
        while True:
            chars = max(8, int((size - 2 * margin) / (0.55 * font_size)))
            lines = textwrap.wrap(text, width=chars) or [""]
            widest = max(draw.textlength(line, font=font) for line in lines)
            if (widest <= size - 2 * margin and len(lines) <= 4) or font_size <= size // 40:
                break
            font_size = int(font_size * 0.9)
            font = ImageFont.load_default(size=font_size)
        for line in lines:
            x = (size - draw.textlength(line, font=font)) / 2
            draw.text((x, y), line, font=font, fill=fill)
            shadow.text((x, y + size / 500), line, font=font, fill=(0, 0, 0, 96))
            y += int(font_size * 1.2)
        y += font_size // 2
    blurred = _blur_around_text(shadow_layer, size / 250, ImageFilter)
    composed = PILImage.alpha_composite(PILImage.alpha_composite(image.convert("RGBA"), blurred), text_layer)
    return composed.convert("RGB")


def _blur_around_text(layer: Image, radius: float, image_filter: ModuleType) -> Image:
    """``layer.filter(GaussianBlur(radius))``, blurring only the text's box and a margin around it.

    Pillow's Gaussian blur is three box blurs that repeat the edge pixels outwards; the rest of the
    layer is transparent zeros, so within the margin the crop sees what the whole layer would and
    everywhere beyond it the blur is zero. The same pixels for a fraction of the work (0.1 s of a
    1400-pixel cover's 0.4 s went to blurring mostly empty layer)."""
    box = layer.getbbox()
    if box is None:
        return layer.copy()
    margin = 4 * int(radius + 2)  # each box pass reaches about radius + 1 pixels: three of them, and room
    left, top = max(0, box[0] - margin), max(0, box[1] - margin)
    right, bottom = min(layer.width, box[2] + margin), min(layer.height, box[3] + margin)
    out = layer.copy()
    crop = layer.crop((left, top, right, bottom)).filter(image_filter.GaussianBlur(radius))
    out.paste(crop, (left, top))
    return out


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 array as an RGB PNG (ISO/IEC 15948: IHDR, one IDAT, IEND)."""
    height, width, _ = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # Each scanline starts with filter type 1 ("Sub"): smooth gradients become runs of small numbers.
    flat = pixels.reshape(height, width * 3).astype(np.int16)
    sub = flat.copy()
    sub[:, 3:] -= flat[:, :-3]
    raw = np.hstack([np.ones((height, 1), dtype=np.uint8), (sub & 0xFF).astype(np.uint8)]).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
