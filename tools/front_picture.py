"""The README's picture: the first screen of six tabs, cut from the browser tests' screenshots, in one image.

    VQE_SCREENSHOTS=docs/screenshots python -m pytest tests/test_browser.py tests/test_browser_photos.py
    python tools/front_picture.py        # writes docs/app_tabs.png
"""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ["reconstruct_photo", "paint", "codebook", "sample", "tradeoff", "lab"]
TITLES = ["Reconstruct a photo", "Paint codes", "Codebook", "Sample", "Trade-off", "Codebook lab"]


def main(width: int = 600, height: int = 470, cols: int = 3, gap: int = 12, skip: int = 300):
    """Each tile: the screenshot `skip` pixels down (below the app's header and checkpoint selector, which every
    tab shares), scaled to `width`."""
    rows = -(-len(SHOTS) // cols)
    sheet = Image.new("RGB", (cols * width + (cols + 1) * gap, rows * (height + 28) + (rows + 1) * gap), "white")
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 18)
    except OSError:
        font = ImageFont.load_default()
    for i, (name, title) in enumerate(zip(SHOTS, TITLES, strict=True)):
        with Image.open(ROOT / "docs" / "screenshots" / f"{name}.png") as im:
            scale = width / im.width
            top = im.crop((0, skip, im.width, skip + int(height / scale))).convert("RGB")
            tile = top.resize((width, height), Image.LANCZOS)
        x = gap + (i % cols) * (width + gap)
        y = gap + (i // cols) * (height + 28 + gap)
        draw.text((x + 2, y), title, fill="#2a3f5f", font=font)
        sheet.paste(tile, (x, y + 28))
        draw.rectangle((x - 1, y + 27, x + width, y + 28 + height), outline="#d0d7e2")
    out = ROOT / "docs" / "app_tabs.png"
    sheet.quantize(256, dither=Image.Dither.NONE).save(out, optimize=True)   # a quarter of the RGB file
    print(f"wrote {out.relative_to(ROOT)} ({sheet.width}×{sheet.height})")


if __name__ == "__main__":
    main()
