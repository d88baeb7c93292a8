"""Headless Chromium for tests: find it, install it (Debian's package) if missing, run it.

The review report's HTML is checked in a real browser, because "it renders"
is what a reviewer relies on. Debian's ``chromium`` package is installed on
demand (root with apt-get only) so that ``make test`` works on a fresh
machine; :func:`chromium_or_reason` says why it is unavailable otherwise.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_TIMEOUT = 900  # seconds; a first install downloads about 100 MB
RUN_TIMEOUT = 120
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def chromium_or_reason() -> tuple[Path | None, str]:
    """The browser binary, installing it when possible; else (None, why not)."""
    if CHROMIUM.exists():
        return CHROMIUM, ""
    apt = shutil.which("apt-get")
    if apt is None:
        return None, f"{CHROMIUM} is missing and apt-get is not available to install it"
    if os.geteuid() != 0:
        return None, f"{CHROMIUM} is missing; install it with: sudo apt-get install chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [apt, "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT)
    if done.returncode != 0:
        # Stale package lists are the usual cause; refresh once and retry.
        subprocess.run([apt, "update", "-qq"], capture_output=True, env=env, timeout=300)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT)
    if done.returncode != 0 or not CHROMIUM.exists():
        return None, f"`{' '.join(cmd)}` failed:\n{done.stderr[-2000:]}"
    return CHROMIUM, ""


@dataclass(frozen=True)
class Rendered:
    dom: str  # the serialised DOM after layout
    png: bytes  # the screenshot


def render(browser: Path, html: Path, width: int = 1280, height: int = 2000) -> Rendered:
    """Load ``html`` from disk headless; return its DOM and a screenshot."""
    with tempfile.TemporaryDirectory(prefix="shimgen-chromium-") as tmp:
        shot = Path(tmp) / "shot.png"
        url = html.resolve().as_uri()
        common = [str(browser), *FLAGS, f"--user-data-dir={tmp}/profile"]
        subprocess.run(
            [*common, f"--screenshot={shot}", f"--window-size={width},{height}", url],
            capture_output=True,
            timeout=RUN_TIMEOUT,
            check=True,
        )
        dom = subprocess.run(
            [*common, "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=True,
        ).stdout
        return Rendered(dom, shot.read_bytes())


def png_pixels(data: bytes) -> tuple[int, int, int, bytes]:
    """Decode an 8-bit, non-interlaced PNG (what Chromium writes): width, height, bpp, raw rows.

    Only the standard library: the test must not need Pillow.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    width = height = bpp = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace:
                raise ValueError(f"unsupported PNG: depth {depth}, interlace {interlace}")
            bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        _unfilter(ftype, line, prev, bpp)
        rows += line
        prev = line
    return width, height, bpp, bytes(rows)


def _unfilter(ftype: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == 1:
            line[i] = (line[i] + a) & 0xFF
        elif ftype == 2:
            line[i] = (line[i] + b) & 0xFF
        elif ftype == 3:
            line[i] = (line[i] + (a + b) // 2) & 0xFF
        elif ftype == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pred) & 0xFF
