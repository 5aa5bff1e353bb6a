"""Shared pieces of the pipeline and ingest benchmarks: generated images that look like generator
output, tenants spread evenly over partitions, an ingest worker as a real process, polling.

Nothing generated here is committed: images go to a temporary directory, or to a cache under
~/.cache (`cached_images`) so repeated benchmark runs skip the ~0.3 s per image of drawing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]

A1111_TEMPLATE = (
    "{prompt}\nNegative prompt: lowres, bad anatomy, bad hands, text, error, missing fingers, cropped, "
    "worst quality, low quality, jpeg artifacts, signature, watermark, blurry\n"
    "Steps: {steps}, Sampler: DPM++ 2M Karras, CFG scale: {cfg}, Seed: {seed}, Size: {w}x{h}, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: v1.9.4"
)
PROMPTS = [
    "a lighthouse on a cliff at dusk, volumetric light, oil painting, highly detailed",
    "portrait of an astronaut in a sunflower field, 35mm photo, bokeh",
    "isometric cozy bedroom, pastel colours, soft shadows, 3d render",
    "ancient library with floating books, cinematic lighting, matte painting",
    "cyberpunk street market in the rain, neon reflections, wide angle",
]


def _picture(rng: random.Random, size: int) -> Image.Image:
    """Smooth colour fields, a few soft shapes and low-amplitude sensor-like noise: compresses like a
    generated image (1-2 MB as a 1024 px PNG), not like flat colour or pure noise."""
    grad = Image.linear_gradient("L").resize((size, size))
    channels = []
    for _ in range(3):
        g = grad.rotate(
            rng.uniform(0, 360),
            resample=Image.Resampling.BILINEAR,
            expand=False,
            fillcolor=rng.randrange(256),
        )
        scale, lift = rng.uniform(0.4, 1.0), rng.randrange(90)
        channels.append(g.point([min(255, int(v * scale) + lift) for v in range(256)]))
    image = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(6, 14)):
        x, y, r = rng.randrange(size), rng.randrange(size), rng.randrange(size // 16, size // 4)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(3, 8)))
    noise = Image.merge("RGB", [Image.effect_noise((size, size), rng.uniform(4, 9)) for _ in range(3)])
    # noise centred on 128: add it around the image without shifting the mean much
    return ImageChops.add(
        ImageChops.subtract(image, Image.new("RGB", image.size, (10, 10, 10))),
        noise.point(lambda v: max(0, v - 118)),
    )


def generate_images(
    directory: Path, n_png: int, n_jpeg: int, *, size: int = 1024, seed: int = 7
) -> list[Path]:
    """PNGs with an A1111 `parameters` chunk and JPEGs with an EXIF UserComment, as generators write them."""
    import piexif
    from PIL import PngImagePlugin

    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths: list[Path] = []
    for i in range(n_png + n_jpeg):
        image = _picture(rng, size)
        text = A1111_TEMPLATE.format(
            prompt=rng.choice(PROMPTS),
            steps=rng.choice((20, 25, 30)),
            cfg=rng.choice((5, 6.5, 7)),
            seed=rng.randrange(2**32),
            w=size,
            h=size,
        )
        if i < n_png:
            info = PngImagePlugin.PngInfo()
            info.add_text("parameters", text)
            path = directory / f"{i:05d}-{rng.randrange(2**32)}.png"
            image.save(path, "PNG", pnginfo=info, compress_level=6)
        else:
            comment = b"UNICODE\x00" + text.encode("utf-16-be")
            exif = piexif.dump(
                {
                    "0th": {},
                    "Exif": {
                        piexif.ExifIFD.UserComment: comment,
                        piexif.ExifIFD.DateTimeOriginal: b"2026:06:25 01:46:47",
                    },
                    "GPS": {},
                    "1st": {},
                    "thumbnail": None,
                }
            )
            path = directory / f"{i:05d}-{rng.randrange(2**32)}.jpg"
            image.save(path, "JPEG", quality=92, exif=exif)
        paths.append(path)
    return paths


def cached_images(n_png: int, n_jpeg: int, *, size: int = 1024, seed: int = 7) -> list[Path]:
    """`generate_images` made once per parameter set (and Pillow version, which draws the noise) and
    kept under $XDG_CACHE_HOME/atelier-bench; a directory is used only once it is complete."""
    import PIL

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "atelier-bench"
    directory = root / f"images-v1-{size}px-seed{seed}-{n_png}png-{n_jpeg}jpeg-pillow{PIL.__version__}"
    complete = directory / "complete"
    if not complete.exists():
        partial = directory.with_name(directory.name + f".partial-{os.getpid()}")
        paths = generate_images(partial, n_png, n_jpeg, size=size, seed=seed)
        (partial / "complete").write_text("\n".join(p.name for p in paths) + "\n")
        try:
            partial.rename(directory)
        except OSError:  # another run finished the same set first: use theirs
            pass
    return [directory / name for name in complete.read_text().split()]


# -- Kafka partitions ------------------------------------------------------------------------
def partition_of(key: bytes, partitions: int) -> int:
    """The partition aiokafka's default partitioner picks for a key (murmur2, as the Java client)."""
    from aiokafka.partitioner import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def balanced_tenants(partitions: int, per_partition: int, *, seed: int = 11) -> list[uuid.UUID]:
    """Tenant ids whose keys land `per_partition` on every partition, so consumers share the work evenly."""
    rng = random.Random(seed)
    counts = [0] * partitions
    tenants: list[uuid.UUID] = []
    while len(tenants) < partitions * per_partition:
        tenant = uuid.UUID(int=rng.getrandbits(128), version=4)
        p = partition_of(str(tenant).encode(), partitions)
        if counts[p] < per_partition:
            counts[p] += 1
            tenants.append(tenant)
    return tenants


# -- processes and polling -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ingest_worker(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m services.ingest` as its own process with its own HTTP port: (process, port)."""
    port = free_port()
    full_env = {**os.environ, **env, "ATELIER_HTTP_PORT": str(port)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"],
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, port


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_until(
    predicate: Callable[[], Awaitable[object]],
    timeout: float,
    interval: float = 0.02,
    what: str = "condition",
) -> object:
    """Poll until `predicate()` is truthy; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def environ(values: dict[str, str]):  # type: ignore[no-untyped-def]
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def encode_jpeg_probe() -> bytes:  # pragma: no cover - handy when checking the generator by hand
    out = io.BytesIO()
    _picture(random.Random(1), 256).save(out, "JPEG")
    return out.getvalue()
