"""Video I/O: validate (`probe_video`), read (`VideoReader`), draw (`video_overlay`; `video_map` for stream
transforms), write and re-encode.

Every video the pipeline touches goes through this package: one streaming reader that never holds a whole video in
memory, one overlay function for all visualisations, one H.264 writer with fixed settings.
"""

from .overlay import video_map, video_overlay
from .probe import InvalidVideoError, VideoProperties, file_sha256, probe_video
from .reader import VideoReader
from .recompress import recompress_h264
from .writer import H264_OPTIONS, VideoWriter

__all__ = [
    "H264_OPTIONS",
    "InvalidVideoError",
    "VideoProperties",
    "VideoReader",
    "VideoWriter",
    "file_sha256",
    "probe_video",
    "recompress_h264",
    "video_map",
    "video_overlay",
]
