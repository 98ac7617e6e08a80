"""Deterministic generators of good and bad video files for tests.

`make_bad_videos(directory)` returns {kind: path} for every kind in `EXPECTED_REASONS`, which maps each kind to a
phrase that `probe_video` must include in its `InvalidVideoError.reason` (lower case):

    missing              "does not exist"       a path nothing was written to
    directory            "directory"            a folder named like a video
    zero_bytes           "empty file"           a 0-byte .mp4
    text                 "not a media file"     a text file named .mp4
    random_bytes         "not a media file"     50 kB of seeded random bytes named .mp4
    audio_only           "audio-only"           an AAC .m4a with no video stream
    audio_only_wav       "audio-only"           a PCM .wav
    still_png            "still image"          a PNG named .mp4
    still_jpeg           "still image"          a JPEG named .mp4
    truncated            "truncated"            a good mp4 (index at the end) cut at 50%
    truncated_faststart  "truncated"            a good mp4 with its index first ("faststart") cut at 50%
    corrupted_middle     "corrupted"            2 kB in the middle of the frame data overwritten with garbage
    header_destroyed     "damaged header"       the first 32 bytes (the 'ftyp' box) overwritten with garbage
    moov_destroyed       "damaged header"       the index ('moov' box) overwritten with 0xff bytes
    no_decodable_frames  "no decodable frames"  all frame data overwritten with garbage, index intact

Every good video is encoded single-threaded (x264 output then does not depend on the machine's core count) and
all garbage comes from seeded generators, so the files are the same on every run. The source is 128 pixels wide on
purpose: at 96x64, x264 (single-threaded, identical input frames) produced a different first GOP in about 1 of 5
pytest runs, probably because its SIMD code reads past the end of narrow picture rows; with luma and chroma rows a
multiple of 64 bytes we saw no difference in 30 runs.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from pose_pipeline.video.writer import H264_OPTIONS, VideoWriter

EXPECTED_REASONS: dict[str, str] = {
    "missing": "does not exist",
    "directory": "directory",
    "zero_bytes": "empty file",
    "text": "not a media file",
    "random_bytes": "not a media file",
    "audio_only": "audio-only",
    "audio_only_wav": "audio-only",
    "still_png": "still image",
    "still_jpeg": "still image",
    "truncated": "truncated",
    "truncated_faststart": "truncated",
    "corrupted_middle": "corrupted",
    "header_destroyed": "damaged header",
    "moov_destroyed": "damaged header",
    "no_decodable_frames": "no decodable frames",
}


def pattern_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """A textured RGB uint8 frame whose content moves with `index` (gradients, a checkerboard and a bright bar)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = (x * 2 + 3 * index) % 256
    frame[..., 1] = (y * 2 + 5 * index) % 256
    frame[..., 2] = ((x // 8 + y // 8 + index // 2) % 2) * 200
    bar = (4 * index) % max(width - 8, 1)
    frame[:, bar : bar + 8] = 255
    return frame


def encoder_options(gop: int | None = None, bframes: int | None = None) -> dict:
    """The project's H.264 settings, single-threaded for reproducible bytes, with an optional GOP / B-frame count."""
    options = dict(H264_OPTIONS, threads="1")
    if gop is not None:
        options["g"] = str(gop)
        options["keyint_min"] = str(gop)
    if bframes is not None:
        options["bf"] = str(bframes)
    return options


def make_good_video(
    path,
    n_frames: int = 60,
    size: tuple[int, int] = (160, 120),
    fps: float = 30.0,
    *,
    gop: int | None = 12,
    bframes: int | None = 2,
    times=None,
    rotation: int = 0,
) -> Path:
    """Write an H.264 MP4 of `n_frames` moving-pattern frames (several GOPs with B-frames by default).

    `times` (seconds per frame) writes a variable-frame-rate file; `rotation` stores a display rotation.
    """
    path = Path(path)
    with VideoWriter(path, fps, size, options=encoder_options(gop, bframes), rotation=rotation) as writer:
        for index in range(n_frames):
            writer.write(pattern_frame(index, size), None if times is None else float(times[index]))
    return path


def remux_faststart(src, dst) -> Path:
    """Copy the packets of `src` into `dst` with the MP4 index ('moov') before the frame data."""
    with av.open(str(src)) as source, av.open(str(dst), "w", options={"movflags": "faststart"}) as target:
        stream_in = source.streams.video[0]
        stream_out = target.add_stream_from_template(stream_in)
        for packet in source.demux(stream_in):
            if packet.dts is None:  # the demuxer's final flush packet
                continue
            packet.stream = stream_out
            target.mux(packet)
    return Path(dst)


def mp4_boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """Top-level MP4 boxes of a well-formed file: {type: (offset, size)}."""
    boxes, offset = {}, 0
    while offset + 8 <= len(data):
        size, kind = int.from_bytes(data[offset : offset + 4], "big"), data[offset + 4 : offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        elif size == 0:
            size = len(data) - offset
        boxes[kind] = (offset, size)
        offset += size
    return boxes


def _garbage(seed: int, n: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _write_audio(path: Path, codec: str, fmt: str, sample_rate: int = 44100, seconds: float = 0.5) -> Path:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sample_rate, layout="mono")
        chunk = stream.codec_context.frame_size or 1024
        for start in range(0, len(tone), chunk):
            samples = tone[start : start + chunk]
            if fmt == "s16":
                frame = av.AudioFrame.from_ndarray(
                    (samples * 32767).astype(np.int16)[None], format="s16", layout="mono"
                )
            else:
                frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None], format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _write_still(path: Path, codec: str) -> Path:
    context = av.CodecContext.create(codec, "w")
    context.width, context.height = 64, 48
    context.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
    context.time_base = 1
    frame = av.VideoFrame.from_ndarray(pattern_frame(0, (64, 48)), format="rgb24").reformat(format=context.pix_fmt)
    data = b"".join(bytes(packet) for packet in [*context.encode(frame), *context.encode(None)])
    path.write_bytes(data)
    return path


def make_bad_videos(directory) -> dict[str, Path]:
    """Create one file (or path) of every kind in `EXPECTED_REASONS` under `directory`; returns {kind: path}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = make_good_video(directory / "_source.mp4", n_frames=48, size=(128, 64), gop=8)
    data = source.read_bytes()
    boxes = mp4_boxes(data)
    mdat_offset, mdat_size = boxes["mdat"]
    moov_offset, moov_size = boxes["moov"]
    paths: dict[str, Path] = {}

    def write(kind: str, content: bytes, suffix: str = ".mp4") -> None:
        paths[kind] = directory / f"{kind}{suffix}"
        paths[kind].write_bytes(content)

    paths["missing"] = directory / "missing.mp4"
    paths["missing"].unlink(missing_ok=True)
    paths["directory"] = directory / "directory.mp4"
    paths["directory"].mkdir(exist_ok=True)
    write("zero_bytes", b"")
    write("text", b"frame,x,y\n" + b"".join(b"%d,%d,%d\n" % (i, 3 * i, 7 * i) for i in range(200)))
    write("random_bytes", _garbage(0, 50_000))
    paths["audio_only"] = _write_audio(directory / "audio_only.m4a", "aac", "fltp")
    paths["audio_only_wav"] = _write_audio(directory / "audio_only_wav.wav", "pcm_s16le", "s16")
    paths["still_png"] = _write_still(directory / "still_png.mp4", "png")
    paths["still_jpeg"] = _write_still(directory / "still_jpeg.mp4", "mjpeg")
    write("truncated", data[: len(data) // 2])
    faststart = remux_faststart(source, directory / "_source_faststart.mp4").read_bytes()
    write("truncated_faststart", faststart[: len(faststart) // 2])

    corrupted = bytearray(data)
    middle = mdat_offset + mdat_size // 2
    corrupted[middle : middle + 2048] = _garbage(1, 2048)
    write("corrupted_middle", bytes(corrupted))

    header = bytearray(data)
    header[:32] = _garbage(2, 32)
    write("header_destroyed", bytes(header))

    moov = bytearray(data)
    moov[moov_offset : moov_offset + moov_size] = b"\xff" * moov_size
    write("moov_destroyed", bytes(moov))

    frames_gone = bytearray(data)
    frames_gone[mdat_offset + 8 : mdat_offset + mdat_size] = _garbage(3, mdat_size - 8)
    write("no_decodable_frames", bytes(frames_gone))

    missing = set(EXPECTED_REASONS) - set(paths)
    assert not missing, f"make_bad_videos forgot {missing}"
    return paths
