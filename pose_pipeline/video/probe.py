"""Validate a video file and measure its properties by decoding it once.

`probe_video` is the gate every video passes before the pipeline uses it: it decodes every frame (streaming, no
frame is kept), so the frame count and the per-frame timestamps are what a reader will actually get, not what the
container claims. Files that are not usable videos raise `InvalidVideoError` with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["InvalidVideoError", "VideoProperties", "display_path", "ffmpeg_url", "file_sha256", "probe_video"]


def display_path(path) -> str:
    """`path` as printable text: bytes of a name that is not valid UTF-8 are shown escaped (``caf\\xe9.mp4``)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def ffmpeg_url(path) -> str:
    """The URL under which FFmpeg opens exactly the local file `path`.

    FFmpeg reads a name as ``protocol:rest`` when it starts with letters followed by a colon, so a file called
    ``file:decoy.mp4`` would open ``decoy.mp4`` and ``2024-05-01T10:32:01.mp4`` would be refused as an unknown
    protocol. An explicit ``file:`` protocol and an absolute path leave nothing to interpret.
    """
    return "file:" + os.path.abspath(os.fspath(path))


class InvalidVideoError(ValueError):
    """A file that cannot be used as a video; `.path` is the file and `.reason` says why, in words."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{display_path(path)}: {reason}")

    def __reduce__(self):  # keep path and reason when the error crosses a process boundary (worker pools)
        return type(self), (self.path, self.reason)


@dataclass(frozen=True, eq=False)
class VideoProperties:
    """What decoding a whole video found.

    Attributes:
        fps: average frame rate in frames per second: exact for constant-rate video; for variable-rate video the
            mean of the frame intervals, (frame_count - 1) / timestamps[-1].
        frame_count: number of frames the decoder produced (not the container's claim).
        width, height: frame size in pixels as stored, before any display rotation.
        duration: seconds from the first frame's timestamp to the end of the last frame.
        codec: FFmpeg decoder name, e.g. "h264".
        rotation: clockwise degrees (0, 90, 180 or 270) a player turns the stored frames to display them upright,
            from the stream's display matrix (the value of the legacy "rotate" tag). Frames are always read as
            stored; rotate them yourself if you need them upright, e.g. ``np.rot90(frame, k=-rotation // 90)``.
        timestamps: presentation time of each frame in seconds, relative to the first frame (float64, read-only).
        pix_fmt: decoder pixel format, e.g. "yuv420p".
    """

    fps: float
    frame_count: int
    width: int
    height: int
    duration: float
    codec: str
    rotation: int
    timestamps: np.ndarray
    pix_fmt: str

    def __repr__(self) -> str:
        return (
            f"VideoProperties({self.width}x{self.height}, {self.frame_count} frames, fps={self.fps:.4f}, "
            f"duration={self.duration:.3f} s, codec={self.codec!r}, pix_fmt={self.pix_fmt!r}, "
            f"rotation={self.rotation}, variable_frame_rate={self.variable_frame_rate})"
        )

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as stored."""
        return self.width, self.height

    @property
    def variable_frame_rate(self) -> bool:
        """True when frame intervals differ by more than timestamp rounding (1 ms or 1% of the typical interval)."""
        if len(self.timestamps) < 3:
            return False
        intervals = np.diff(self.timestamps)
        typical = float(np.median(intervals))
        return bool(np.max(np.abs(intervals - typical)) > max(1e-3, 0.01 * typical))


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks of `chunk` bytes so large videos never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# Decoders of picture formats: a one-frame stream in one of these is a still image, whatever the file is called.
_IMAGE_CODECS = {"png", "apng", "mjpeg", "jpeg2000", "bmp", "tiff", "webp", "gif", "ppm", "pgm", "pam", "qoi", "jpegxl"}
_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
_MP4_TOP_LEVEL = frozenset(
    b"ftyp styp moov mdat free skip wide pnot uuid meta moof mfra sidx pdin udta prfl junk".split()
)

# FFmpeg's log is process-wide: serialise probes so captured decoder errors belong to the probe that caused them.
_PROBE_LOCK = threading.Lock()


def _check_path(path) -> Path:
    """Raise InvalidVideoError unless `path` is an existing, readable, non-empty regular file; return it as a Path."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidVideoError(path, "file does not exist") from None
    except OSError as error:
        raise InvalidVideoError(path, f"cannot access the file ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidVideoError(path, "is a directory, not a video file")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidVideoError(path, "is not a regular file")
    if info.st_size == 0:
        raise InvalidVideoError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InvalidVideoError(path, "cannot read the file (permission denied)")
    return path


def _open_video(path: Path, container_errors: list | None = None):
    """Open `path` with FFmpeg and return (container, first real video stream), or raise InvalidVideoError.

    `container_errors` are FFmpeg log lines captured while opening, used to explain a failure.
    """
    try:
        container = av.open(ffmpeg_url(path), mode="r")
    except av.error.FFmpegError as error:
        raise InvalidVideoError(path, _diagnose_unopenable(path, _ffmpeg_reason(error, container_errors))) from None
    try:
        stream = _video_stream(path, container)
    except BaseException:
        container.close()
        raise
    return container, stream


def _video_stream(path: Path, container):
    format_name = container.format.name
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if format_name == "tty":  # FFmpeg's ANSI-art demuxer opens any text file as "video"
        raise InvalidVideoError(path, f"not a media file: it contains text{_text_snippet(path)}")
    if not videos:
        audio = [s.codec_context.name for s in container.streams.audio]
        if audio:
            raise InvalidVideoError(path, f"audio-only file: no video stream (audio: {', '.join(audio)})")
        kinds = sorted({s.type for s in container.streams})
        raise InvalidVideoError(path, f"no video stream (streams: {', '.join(kinds) or 'none'})")
    stream = videos[0]
    codec = stream.codec_context.name
    if format_name == "image2" or format_name.endswith("_pipe"):
        raise InvalidVideoError(path, f"a still image ({codec}), not a video")
    return stream


@contextmanager
def _captured_ffmpeg_errors():
    """Collect FFmpeg's error messages (from every thread) instead of letting them reach stderr or Python logging."""
    previous = av.logging.get_level()
    skip_repeated = av.logging.get_skip_repeated()
    av.logging.set_skip_repeated(False)  # else a message repeated from the previous probe is swallowed
    if previous is None:
        av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs:  # decoder worker threads log too
            yield logs
    finally:
        # Back to PyAV's silent callback *before* any codec context is freed: freeing joins FFmpeg's frame threads
        # while holding the GIL, and a worker that logs through the Python callback then waits for the GIL forever.
        av.logging.set_level(previous)
        av.logging.set_skip_repeated(skip_repeated)


def _error_lines(logs) -> list[str]:
    lines = []
    for level, _name, message in logs:
        text = message.strip().rstrip(".")
        if level <= av.logging.ERROR and text and text not in lines:
            lines.append(text)
    return lines


def _ffmpeg_reason(error: Exception | None, logs) -> str:
    """FFmpeg's own explanation, shortened: the distinct error log lines, else the exception's strerror."""
    lines = _error_lines(logs or [])
    if lines:
        text = "; ".join(lines[:2]) + (f" (+{len(lines) - 2} more)" if len(lines) > 2 else "")
    elif error is not None:
        text = getattr(error, "strerror", None) or str(error)
    else:
        return ""
    return f"FFmpeg: {text}"


def _read_ends(path: Path, size: int = 1 << 16) -> tuple[bytes, bytes, int]:
    file_size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(size)
        file.seek(max(0, file_size - size))
        tail = file.read(size)
    return head, tail, file_size


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if not sample or b"\x00" in sample:
        return False
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            text = sample[: len(sample) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _text_snippet(path: Path) -> str:
    head = _read_ends(path, 64)[0]
    snippet = head.decode("utf-8", errors="replace").strip().splitlines()
    return f" ({snippet[0][:40]!r}...)" if snippet else ""


def _mp4_layout(path: Path, file_size: int, head: bytes):
    """Walk the top-level ISO-BMFF boxes. Returns None when the file does not start like an MP4/MOV.

    Otherwise a dict with `types` (box types seen), `truncated` ((type, declared end) of a box running past the end
    of the file) and `garbage_at` (offset of the first invalid box header).
    """
    if len(head) < 8 or head[4:8] not in _MP4_TOP_LEVEL:
        return None
    types, truncated, garbage_at = [], None, None
    with open(path, "rb") as file:
        offset = 0
        while offset + 8 <= file_size:
            file.seek(offset)
            header = file.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if size == 1 and len(header) == 16:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:  # "extends to the end of the file"
                size = file_size - offset
            if not all(32 <= b < 127 or b == 0xA9 for b in kind) or size < 8:
                garbage_at = offset
                break
            types.append(kind.decode("latin-1"))
            if offset + size > file_size:
                truncated = (kind.decode("latin-1"), offset + size)
                break
            offset += size
    return {"types": types, "truncated": truncated, "garbage_at": garbage_at}


def _physically_truncated(path: Path) -> str | None:
    """A sentence when an MP4/MOV file ends inside one of its boxes (an interrupted copy or recording), else None."""
    head, _tail, file_size = _read_ends(path)
    layout = _mp4_layout(path, file_size, head)
    if layout is None or layout["truncated"] is None:
        return None
    kind, end = layout["truncated"]
    return f"the file ends at byte {file_size}, inside its '{kind}' box that runs to byte {end}"


def _diagnose_unopenable(path: Path, ffmpeg: str) -> str:
    """Name the problem with a file FFmpeg refused to open."""
    suffix = f" ({ffmpeg})" if ffmpeg else ""
    head, tail, file_size = _read_ends(path)
    if _looks_like_text(head):
        return f"not a media file: it contains text{_text_snippet(path)}"
    image = _image_kind(head)
    if image:
        return f"a still image ({image}), not a video{suffix}"
    layout = _mp4_layout(path, file_size, head)
    if layout is not None:
        if layout["truncated"] is not None:
            return f"truncated file: {_physically_truncated(path)}; the video index ('moov') is missing{suffix}"
        if "moov" not in layout["types"]:
            where = f", invalid data at byte {layout['garbage_at']}" if layout["garbage_at"] is not None else ""
            return f"damaged header: the MP4 index ('moov' box) is missing or overwritten{where}{suffix}"
        return f"damaged header: the MP4 boxes are present but FFmpeg cannot read them{suffix}"
    # A file that does not start with a box but holds MP4 structures further in had its beginning overwritten.
    if any(marker in part for marker in (b"moov", b"mvhd", b"ftyp", b"mdat") for part in (head, tail)):
        return f"damaged header: the file does not start with a valid MP4/MOV box but contains MP4 boxes{suffix}"
    return f"not a media file: FFmpeg does not recognise the data{suffix}"


def _image_kind(head: bytes) -> str | None:
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for signature, name in _IMAGE_SIGNATURES.items() if head.startswith(signature)), None)


def _rotation_clockwise(frame) -> int:
    # PyAV reports the display matrix as counter-clockwise degrees in [-180, 180].
    try:
        counter_clockwise = frame.rotation
    except (AttributeError, ValueError):
        return 0
    return round(-counter_clockwise) % 360 if counter_clockwise else 0


def probe_video(path, *, strict: bool = True) -> VideoProperties:
    """Decode every frame of `path` once (streaming) and return its properties, or raise InvalidVideoError.

    Refused, each with a reason naming the problem: a missing path, a directory, an empty file, text or other
    non-media data, an audio-only file, a still image, a truncated file, a damaged header, a corrupted stream
    (decoder errors, or fewer frames decoded than the container declares) and a file with no decodable frames.

    With ``strict=False``, decoder errors that FFmpeg concealed (every declared frame still came out) are tolerated;
    a decode that stops early or loses frames is refused either way. Decoding cannot notice every damage (many
    flipped bits decode to slightly wrong pixels without an error): compare `file_sha256` with a known checksum
    to prove a file unchanged.
    """
    path = _check_path(path)
    with _PROBE_LOCK, _captured_ffmpeg_errors() as logs:
        container, stream = _open_video(path, logs)
        try:
            return _decode_and_measure(path, container, stream, logs, strict)
        finally:
            try:
                # Park the decoder threads (GIL released) while the capture still collects their messages.
                stream.codec_context.flush_buffers()
            finally:
                container.close()


def _decode_and_measure(path: Path, container, stream, logs, strict: bool) -> VideoProperties:
    stream.thread_type = "AUTO"
    codec = stream.codec_context.name
    declared = int(stream.frames or 0)
    time_base = stream.time_base or Fraction(1, 1)
    open_errors = len(logs)  # errors logged while opening (e.g. probing) are judged by the decode outcome alone
    pts: list[int] = []
    missing_pts = False
    rotation = 0
    last_duration = 0
    width = height = 0
    pix_fmt = ""
    decode_error = None
    try:
        for frame in container.decode(stream):
            if not pts:
                rotation = _rotation_clockwise(frame)
                width, height, pix_fmt = frame.width, frame.height, frame.format.name
            if frame.pts is None:
                missing_pts = True
            pts.append(frame.pts if frame.pts is not None else len(pts))
            last_duration = frame.duration or 0
    except av.error.FFmpegError as error:
        decode_error = error
    count = len(pts)
    decoder_errors = _error_lines(logs[open_errors:])
    ffmpeg = _ffmpeg_reason(decode_error, logs[open_errors:])
    suffix = f" ({ffmpeg})" if ffmpeg else ""

    truncated = _physically_truncated(path) if (decode_error or decoder_errors or count < declared) else None
    if truncated:
        raise InvalidVideoError(
            path, f"truncated file: {truncated}; decoded {count} of {declared or '?'} frames{suffix}"
        )
    if count == 0:
        raise InvalidVideoError(path, f"no decodable frames in the {codec} stream{suffix}")
    if decode_error is not None:
        raise InvalidVideoError(
            path, f"corrupted video stream: decoding failed after frame {count} of {declared or '?'}{suffix}"
        )
    if count < declared:
        raise InvalidVideoError(
            path,
            f"corrupted or truncated video stream: decoded only {count} of the {declared} frames "
            f"the container declares{suffix}",
        )
    if decoder_errors and strict:
        raise InvalidVideoError(
            path,
            f"corrupted video stream: the decoder reported {len(decoder_errors)} distinct "
            f"error(s) while decoding {count} frames{suffix}",
        )
    if count == 1 and codec in _IMAGE_CODECS:
        raise InvalidVideoError(path, f"a still image ({codec}), not a video")

    if missing_pts:  # e.g. raw elementary streams: no timestamps, assume the nominal rate
        tick = 1 / Fraction(stream.guessed_rate or stream.average_rate or 30)
        ticks = np.arange(count, dtype=np.int64)
        last_duration = 1
    else:
        tick = Fraction(time_base)
        ticks = np.asarray(pts, dtype=np.int64)
        if np.any(np.diff(ticks) <= 0):  # decoders emit presentation order; guard against broken streams
            ticks = np.sort(ticks)
        ticks = ticks - ticks[0]
    timestamps = ticks.astype(np.float64) * float(tick)
    timestamps.setflags(write=False)
    intervals = np.diff(ticks)
    span = float(int(ticks[-1]) * tick)
    if count >= 2 and np.all(intervals == intervals[0]) and intervals[0] > 0:
        frame_seconds = float(int(intervals[0]) * tick)  # constant rate: exact, e.g. 30000/1001
        fps = 1.0 / frame_seconds
    else:
        # The mean of the frame intervals: it depends on timestamps only, not on the last frame's stored duration.
        fps = (count - 1) / span if count >= 2 and span > 0 else 0.0
        if last_duration:
            frame_seconds = float(last_duration * tick)
        elif fps:
            frame_seconds = 1.0 / fps
        else:
            rate = stream.average_rate or stream.guessed_rate
            frame_seconds = 1.0 / float(rate) if rate else 0.0
        fps = fps or (1.0 / frame_seconds if frame_seconds else 0.0)
    return VideoProperties(
        fps=float(fps),
        frame_count=count,
        width=int(width),
        height=int(height),
        duration=span + frame_seconds,
        codec=codec,
        rotation=rotation,
        timestamps=timestamps,
        pix_fmt=pix_fmt,
    )
