#!/usr/bin/env python3
"""Host half of tests/vm/vm_drm_engine.sh for one QEMU run: follows the guest's drm_selftest
on the serial console file, takes QMP screendumps (PPM) when it reports a step ready, checks
exact pixel values, and tells the guest to go on with one byte on the control chardev socket.

  vm_drm_screen.py CONSOLE_FILE QMP_SOCKET CONTROL_SOCKET WORK_DIR TIMEOUT_S

Prints "ok: ..." / "FAIL: ..." lines; exit status 1 when any check failed. The expected
picture is the one bridge-guest/engines/drm/drm_selftest.cpp draws: keep the two in step.
"""
import json
import os
import re
import socket
import sys
import time

BARS = [0xFFFFFF, 0xFFFF00, 0x00FFFF, 0x00FF00, 0xFF00FF, 0xFF0000, 0x0000FF, 0x000000]
SQUARE, RECT = 0x123456, 0xABCDEF
SQUARE_XY, RECT_X, RECT_Y, SIDE = 64, 320, 192, 64

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


def wait_console(console, pattern, deadline):
    rx = re.compile(pattern)
    while time.time() < deadline:
        try:
            text = open(console, errors="replace").read().replace("\r", "")
        except FileNotFoundError:
            text = ""
        m = rx.search(text)
        if m:
            return m
        if re.search(r"^DRMTEST (FAIL|selftest exit)", text, re.M):
            return None
        time.sleep(0.3)
    return None


def check_step1(img, w, h):
    check(img[0] == w and img[1] == h, f"screendump is {img[0]}x{img[1]}, the mode is {w}x{h}")
    y = h * 3 // 4  # below the square and the rect
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


def check_step2(before, after):
    w, h, a = before
    _, _, b = after
    changed = [i // 3 for i in range(0, len(a), 3) if a[i:i + 3] != b[i:i + 3]]
    xs = [p % w for p in changed]
    ys = [p // w for p in changed]
    box = (min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1) if changed else None
    check(box == (RECT_X, RECT_Y, SIDE, SIDE),
          f"only the updated rect changed: {len(changed)} pixels in box {box}, want "
          f"{(RECT_X, RECT_Y, SIDE, SIDE)}")
    check(len(changed) == SIDE * SIDE, f"{len(changed)} pixels changed, want {SIDE * SIDE}")
    inside = all(pixel(after, x, y) == RECT
                 for y in range(RECT_Y, RECT_Y + SIDE) for x in range(RECT_X, RECT_X + SIDE))
    check(inside, f"the rect is {RECT:06x} throughout")


def main():
    console, qmp_path, ctl_path, work, timeout = sys.argv[1:6]
    deadline = time.time() + float(timeout)
    qmp = Qmp(qmp_path, deadline)
    ctl = connect_unix(ctl_path, deadline)

    m = wait_console(console, r"DRMTEST step1 ready (\d+)x(\d+)", deadline)
    check(m is not None, "the guest drew step 1 (colour bars and the square)")
    if m is None:
        return 1
    w, h = int(m.group(1)), int(m.group(2))
    dump1 = os.path.join(work, "step1.ppm")
    qmp.call("screendump", filename=dump1)
    img1 = read_ppm(dump1)
    check_step1(img1, w, h)
    ctl.sendall(b"g")

    m = wait_console(console, r"DRMTEST step2 ready", deadline)
    check(m is not None, "the guest updated the small rect (step 2)")
    if m is None:
        return 1
    dump2 = os.path.join(work, "step2.ppm")
    qmp.call("screendump", filename=dump2)
    check_step2(img1, read_ppm(dump2))
    ctl.sendall(b"g")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a broken run is a failure with its reason, never a traceback only
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
