#!/usr/bin/env python3
"""Times brother_ql (the Python package from PyPI) converting 1-bit label images into Brother QL
raster, for BENCHMARKS.md's side-by-side with urna's own encoder (`scripts/bench-labels`).

Each image is loaded once; only `brother_ql.conversion.convert` is timed, which is the same work
urna's encoder does (threshold, mirror and pack the rows, add the command bytes), with brother_ql
given the most favourable options: no dithering, the image already 1-bit, compression off (its
default, for a QL-800) and on (for a QL-810W, which takes it).

Usage: brother_ql_compare.py IMAGE.png [IMAGE.png ...]
"""

import sys
import time
import warnings

warnings.filterwarnings("ignore")

from PIL import Image  # noqa: E402  (after the warnings filter: brother_ql warns on import)
from brother_ql.conversion import convert  # noqa: E402
from brother_ql.raster import BrotherQLRaster  # noqa: E402


def per_label_ms(image, compress):
    # The QL-800 takes no compression (brother_ql then ignores compress=True); the QL-810W does.
    model = "QL-810W" if compress else "QL-800"

    def once():
        qlr = BrotherQLRaster(model)
        qlr.exception_on_warning = True
        convert(qlr=qlr, images=[image], label="62", rotate="0", threshold=70.0,
                dither=False, compress=compress, red=False, dpi_600=False, hq=True, cut=True)
        return len(qlr.data)

    size = once()
    # Enough rounds for about a second of work, at least 5.
    start = time.perf_counter()
    once()
    one = time.perf_counter() - start
    rounds = max(5, int(1.0 / max(one, 1e-6)))
    start = time.perf_counter()
    for _ in range(rounds):
        once()
    return (time.perf_counter() - start) / rounds * 1000.0, size


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    for path in paths:
        image = Image.open(path).convert("1")
        for compress in (False, True):
            ms, size = per_label_ms(image, compress)
            print(f"brother_ql {path} {image.size[0]}x{image.size[1]} "
                  f"compress={compress} ({'QL-810W' if compress else 'QL-800'}): "
                  f"{ms:.3f} ms/label, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
