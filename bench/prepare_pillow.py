#!/usr/bin/python3
# bench/prepare_pillow: the comparison for bench/prepare. Pillow (Debian's python3-pil)
# doing decode + center crop + Lanczos resize on the same JPEG folder with the same
# process count; prints one JSON line per resolution.
# usage: prepare_pillow.py DIR [--procs N] [--resolutions 256,1024]
import json, multiprocessing, os, sys, time
from PIL import Image


def work(args):
    path, r = args
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        im = im.resize((r, r), Image.LANCZOS)
        return len(im.tobytes())


def main():
    argv = sys.argv[1:]
    if not argv:
        print(__doc__ or "usage: prepare_pillow.py DIR [--procs N]", file=sys.stderr)
        return 2
    d = argv[0]
    procs = os.cpu_count()
    res = [256, 1024]
    if "--procs" in argv:
        procs = int(argv[argv.index("--procs") + 1])
    if "--resolutions" in argv:
        res = [int(x) for x in argv[argv.index("--resolutions") + 1].split(",")]
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.lower().endswith(".jpg"))
    for r in res:
        t = time.time()
        with multiprocessing.Pool(procs) as pool:
            n = sum(1 for _ in pool.imap_unordered(work, [(f, r) for f in files], chunksize=8))
        el = time.time() - t
        print(json.dumps({"bench": "prepare_pillow", "pillow": Image.__version__, "resolution": r,
                          "images": n, "procs": procs, "seconds": round(el, 3),
                          "images_per_s": round(n / el, 1)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
