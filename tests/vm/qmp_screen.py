#!/usr/bin/env python3
"""QMP screendumps and exact pixel checks, shared by the QEMU display tests
(tests/vm/vm_drm_screen.py for vm_drm_engine.sh, and vm_display.sh through the commands below).

  qmp_screen.py dump QMP_SOCKET OUT.ppm [TIMEOUT_S]
  qmp_screen.py check-pattern PPM WIDTH HEIGHT    colour bars + the 64x64 0x123456 square at 64,64
  qmp_screen.py check-rect BEFORE.ppm AFTER.ppm X Y W H RRGGBB
                                                  AFTER differs from BEFORE exactly in the rect,
                                                  which is RRGGBB throughout
  qmp_screen.py png PPM OUT.png                   PPM -> PNG (zlib + struct, no PIL)

Prints "ok: ..." / "FAIL: ..." lines; exit status 1 when a check failed or the command broke.
"""
import json
import re
import socket
import struct
import sys
import time
import zlib

BARS = [0xFFFFFF, 0xFFFF00, 0x00FFFF, 0x00FF00, 0xFF00FF, 0xFF0000, 0x0000FF, 0x000000]
SQUARE, SQUARE_XY, SIDE = 0x123456, 64, 64

failures = 0


def check(ok, what):
    global failures
    print(("ok:   " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failures += 1


def connect_unix(path, deadline):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


class Qmp:
    def __init__(self, path, deadline):
        self.sock = connect_unix(path, deadline)
        self.buf = b""
        self.read_reply()  # greeting
        self.call("qmp_capabilities")

    def read_reply(self):
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise RuntimeError("QMP closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "event" not in msg:  # events are not replies
                return msg

    def call(self, cmd, **args):
        self.sock.sendall(json.dumps({"execute": cmd, "arguments": args}).encode() + b"\n")
        reply = self.read_reply()
        if "error" in reply:
            raise RuntimeError(f"QMP {cmd}: {reply['error']}")
        return reply["return"]


def read_ppm(path):
    data = open(path, "rb").read()
    # Header: P6 <ws> width <ws> height <ws> maxval <one ws> pixels
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    if not m:
        raise RuntimeError(f"{path}: not a binary PPM")
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():]


def pixel(img, x, y):
    w, _, px = img
    o = (y * w + x) * 3
    return (px[o] << 16) | (px[o + 1] << 8) | px[o + 2]


def bar_colour(x, w):
    for b in range(8):
        if b * w // 8 <= x < (b + 1) * w // 8:
            return BARS[b]
    raise ValueError(x)


def changed_box(before, after):
    """(pixels changed, bounding box (x, y, w, h) or None)"""
    w, _, a = before
    _, _, b = after
    changed = [i // 3 for i in range(0, len(a), 3) if a[i:i + 3] != b[i:i + 3]]
    if not changed:
        return 0, None
    xs = [p % w for p in changed]
    ys = [p // w for p in changed]
    return len(changed), (min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1)


def check_pattern(img, w, h):
    """The colour bars with the 64x64 SQUARE at (64, 64): exact values at known points."""
    check(img[0] == w and img[1] == h, f"screendump is {img[0]}x{img[1]}, the mode is {w}x{h}")
    if img[0] != w or img[1] != h:
        return
    y = h * 3 // 4  # below the square
    for b in range(8):
        x = (b * w // 8 + (b + 1) * w // 8) // 2
        got = pixel(img, x, y)
        check(got == BARS[b], f"bar {b} at ({x},{y}) is {got:06x}, want {BARS[b]:06x}")
    for x, y in [(SQUARE_XY, SQUARE_XY), (SQUARE_XY + SIDE - 1, SQUARE_XY + SIDE - 1),
                 (SQUARE_XY + 32, SQUARE_XY + 17)]:
        got = pixel(img, x, y)
        check(got == SQUARE, f"square at ({x},{y}) is {got:06x}, want {SQUARE:06x}")
    for x, y in [(SQUARE_XY - 1, SQUARE_XY), (SQUARE_XY + SIDE, SQUARE_XY + SIDE - 1)]:
        got = pixel(img, x, y)
        check(got == bar_colour(x, w), f"just outside the square ({x},{y}) is {got:06x}, "
              f"want bar {bar_colour(x, w):06x}")


def check_rect(before, after, rect, colour):
    """AFTER differs from BEFORE exactly inside rect (x, y, w, h), which is colour throughout."""
    n, box = changed_box(before, after)
    check(box == rect, f"only the damaged rect changed: {n} pixels in box {box}, want {rect}")
    check(n == rect[2] * rect[3], f"{n} pixels changed, want {rect[2] * rect[3]}")
    x0, y0, rw, rh = rect
    inside = all(pixel(after, x, y) == colour
                 for y in range(y0, y0 + rh) for x in range(x0, x0 + rw))
    check(inside, f"the rect is {colour:06x} throughout")


def write_png(img, path):
    w, h, px = img
    raw = b"".join(b"\x00" + px[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "dump":
        timeout = float(args[2]) if len(args) > 2 else 30
        Qmp(args[0], time.time() + timeout).call("screendump", filename=args[1])
        img = read_ppm(args[1])
        print(f"ok:   screendump {args[1]} ({img[0]}x{img[1]})")
    elif cmd == "check-pattern":
        check_pattern(read_ppm(args[0]), int(args[1]), int(args[2]))
    elif cmd == "check-rect":
        x, y, w, h = (int(v) for v in args[2:6])
        check_rect(read_ppm(args[0]), read_ppm(args[1]), (x, y, w, h), int(args[6], 16))
    elif cmd == "png":
        write_png(read_ppm(args[0]), args[1])
        print(f"ok:   wrote {args[1]}")
    else:
        raise RuntimeError(f"unknown command {cmd} (see the top of {argv[0]})")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # a broken run is a failure with its reason, never a traceback only
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
