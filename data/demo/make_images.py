#!/usr/bin/python3
"""Draws the demo catalogue's images (`shopd seed-demo`): flat illustrations made
from code -- a banded two-colour diagonal gradient with a disc, diamond or square --
written as 96x96 PNG with zlib and struct only. Nothing is copied from anywhere.
Run once from this directory; the PNG files are checked in."""
import struct
import zlib


def png(path, w, h, pixel):
    raw = bytearray()
    for y in range(h):
        raw.append(0)  # filter: none
        for x in range(w):
            raw.extend(pixel(x, y))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    out += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    out += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def hexrgb(s):
    return tuple(int(s[i:i + 2], 16) for i in (0, 2, 4))


def picture(c1, c2, fg, shape, size=96):
    a, b, d = hexrgb(c1), hexrgb(c2), hexrgb(fg)

    def pixel(x, y):
        t = round((x + y) / (2 * (size - 1)) * 8) / 8  # bands compress well
        col = [int(a[i] + (b[i] - a[i]) * t) for i in range(3)]
        r = size * 0.28
        dx, dy = x - size / 2 + 0.5, y - size / 2 + 0.5
        if shape == "disc":
            inside = dx * dx + dy * dy <= r * r
        elif shape == "diamond":
            inside = abs(dx) + abs(dy) <= r * 1.2
        else:
            inside = abs(dx) <= r * 0.85 and abs(dy) <= r * 0.85
        return bytes(d if inside else col)

    return pixel


IMAGES = {
    "category-coffee-tea.png": ("6f4e37", "c8a27a", "f5efe6", "disc"),
    "category-spices-herbs.png": ("b22222", "f4a261", "fff3e0", "diamond"),
    "category-nuts-dried-fruit.png": ("8d6e63", "e0c097", "fffaf0", "square"),
    "category-baking.png": ("f3e5ab", "d4a373", "ffffff", "disc"),
    "product-arabica-beans.png": ("3e2723", "795548", "d7ccc8", "disc"),
    "product-darjeeling-tea.png": ("33691e", "aed581", "f1f8e9", "diamond"),
    "product-masala-chai.png": ("a1887f", "ffcc80", "4e342e", "square"),
    "product-saffron.png": ("bf360c", "ffb74d", "ffeb3b", "diamond"),
    "product-cinnamon.png": ("8d4925", "d2691e", "fbe9e7", "square"),
    "product-paprika.png": ("c62828", "ef5350", "ffebee", "disc"),
    "product-almonds.png": ("a0522d", "deb887", "fff8e1", "diamond"),
    "product-dates.png": ("4e2a1e", "8b5a2b", "ffe0b2", "disc"),
    "product-cashews.png": ("d7ccc8", "f5deb3", "8d6e63", "square"),
    "product-wheat-flour.png": ("e6c27a", "fff3d6", "a67c52", "disc"),
    "product-vanilla.png": ("2b1b17", "6d4c41", "fff59d", "diamond"),
    "product-cocoa.png": ("3b2420", "6b4226", "efebe9", "square"),
}

if __name__ == "__main__":
    for name, (c1, c2, fg, shape) in IMAGES.items():
        png(name, 96, 96, picture(c1, c2, fg, shape))
