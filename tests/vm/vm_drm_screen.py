#!/usr/bin/env python3
"""Host half of tests/vm/vm_drm_engine.sh for one QEMU run: follows the guest's drm_selftest
on the serial console file, takes QMP screendumps (PPM) when it reports a step ready, checks
exact pixel values, and tells the guest to go on with one byte on the control chardev socket.

  vm_drm_screen.py CONSOLE_FILE QMP_SOCKET CONTROL_SOCKET WORK_DIR TIMEOUT_S

Prints "ok: ..." / "FAIL: ..." lines; exit status 1 when any check failed. The expected
picture is the one bridge-guest/engines/drm/drm_selftest.cpp draws: keep the two in step.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qmp_screen  # noqa: E402  (the QMP + PPM code shared with vm_display.sh)
from qmp_screen import Qmp, check, connect_unix, read_ppm  # noqa: E402

RECT, RECT_X, RECT_Y, SIDE = 0xABCDEF, 320, 192, qmp_screen.SIDE  # as drm_selftest.cpp


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
    qmp_screen.check_pattern(img, w, h)


def check_step2(before, after):
    qmp_screen.check_rect(before, after, (RECT_X, RECT_Y, SIDE, SIDE), RECT)


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
    return 1 if qmp_screen.failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a broken run is a failure with its reason, never a traceback only
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
