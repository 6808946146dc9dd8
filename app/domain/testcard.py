"""A test card drawn by the project itself, with the symbols whose loss matters to our users.

Digits, letters, a licence-plate-like string, arrows, a small flag, a cross on a tower, fine
text at several sizes and saturated colour patches (a brake light): each a place where a
neural codec can produce a plausible but different symbol (the paper's SYMBOL flag).
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1024, 768


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _arrow(draw: ImageDraw.ImageDraw, x: int, y: int, direction: str, size: int = 40) -> None:
    half = size // 2
    shaft = {
        "right": [(x - half, y - 6), (x, y - 6), (x, y + 6), (x - half, y + 6)],
        "left": [(x + half, y - 6), (x, y - 6), (x, y + 6), (x + half, y + 6)],
        "up": [(x - 6, y + half), (x - 6, y), (x + 6, y), (x + 6, y + half)],
        "down": [(x - 6, y - half), (x - 6, y), (x + 6, y), (x + 6, y - half)],
    }[direction]
    head = {
        "right": [(x, y - 16), (x + half, y), (x, y + 16)],
        "left": [(x, y - 16), (x - half, y), (x, y + 16)],
        "up": [(x - 16, y), (x, y - half), (x + 16, y)],
        "down": [(x - 16, y), (x, y + half), (x + 16, y)],
    }[direction]
    draw.polygon(shaft, fill=(20, 20, 20))
    draw.polygon(head, fill=(20, 20, 20))


def draw_test_card() -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), (236, 236, 230))
    draw = ImageDraw.Draw(image)
    # Smooth gradient sky: a place where banding, not semantics, is the expected artefact.
    for y in range(0, 220):
        shade = int(150 + 90 * y / 220)
        draw.line([(0, y), (WIDTH, y)], fill=(shade - 60, shade - 20, 255))
    draw.text((24, 18), "miscomp test card", fill=(255, 255, 255), font=_font(40))
    draw.text((24, 70), "0123456789", fill=(10, 10, 10), font=_font(56))
    draw.text((24, 140), "ABCDEFGHIJKLMNOPQRSTUVWXYZ", fill=(10, 10, 10), font=_font(30))

    # A licence plate: the paper's running example of changed digits.
    draw.rounded_rectangle(
        [(24, 250), (384, 330)], radius=8, fill=(250, 250, 250), outline=(0, 0, 0), width=4
    )
    draw.rectangle([(28, 254), (62, 326)], fill=(0, 51, 153))
    draw.text((80, 258), "B-MC 2264", fill=(0, 0, 0), font=_font(54))

    for i, direction in enumerate(("up", "right", "down", "left")):
        _arrow(draw, 460 + i * 80, 290, direction)

    # A small flag (tricolour) and a church tower with a cross.
    draw.line([(800, 230), (800, 340)], fill=(60, 40, 20), width=4)
    for i, colour in enumerate(((0, 0, 0), (221, 0, 0), (255, 206, 0))):
        draw.rectangle([(802, 232 + i * 14), (862, 245 + i * 14)], fill=colour)
    draw.rectangle([(900, 260), (960, 380)], fill=(170, 160, 150))
    draw.polygon([(895, 260), (930, 200), (965, 260)], fill=(110, 60, 50))
    draw.rectangle([(928, 168), (932, 200)], fill=(30, 30, 30))
    draw.rectangle([(920, 176), (940, 180)], fill=(30, 30, 30))

    # Fine print at shrinking sizes: where a codec must either blur or invent.
    y = 370
    for size in (24, 18, 14, 11, 9):
        draw.text(
            (24, y),
            f"{size}px  Invoice 4711/2026  EUR 1.380,50  ID 8B0O-1lI",
            fill=(0, 0, 0),
            font=_font(size),
        )
        y += size + 10

    # Brake light and traffic-light colours: the AMPLITUDE examples.
    patches = ((200, 0, 0), (255, 40, 40), (255, 180, 0), (0, 170, 60), (0, 90, 200), (120, 0, 160))
    for i, colour in enumerate(patches):
        draw.rectangle([(24 + i * 70, 560), (84 + i * 70, 620)], fill=colour)
    draw.ellipse([(470, 560), (530, 620)], fill=(230, 0, 0), outline=(60, 0, 0), width=3)

    # A fine checkerboard and a clock face with numerals.
    for gy in range(0, 96, 6):
        for gx in range(0, 192, 6):
            if (gx // 6 + gy // 6) % 2 == 0:
                draw.rectangle([(580 + gx, 540 + gy), (585 + gx, 545 + gy)], fill=(0, 0, 0))
    draw.ellipse([(820, 520), (1000, 700)], fill=(255, 255, 255), outline=(0, 0, 0), width=4)
    for label, (dx, dy) in {"12": (0, -70), "3": (72, 0), "6": (0, 70), "9": (-72, 0)}.items():
        draw.text((910 + dx, 610 + dy), label, fill=(0, 0, 0), font=_font(22), anchor="mm")
    draw.line([(910, 610), (910, 560)], fill=(0, 0, 0), width=4)
    draw.line([(910, 610), (950, 630)], fill=(0, 0, 0), width=3)
    draw.text(
        (24, 700), "Sign: EXIT 7 ->  Speed 30  Platform 9 3/4", fill=(0, 0, 0), font=_font(28)
    )
    return image
