"""Tests of the video I/O layer (pose_pipeline.video): probing, bad files, reading, seeking, overlay, recompression.

No database. Every video is made here (tests/bad_videos.py), small enough that the module runs in seconds.
"""

from __future__ import annotations

import hashlib
import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pose_pipeline.video import (
    InvalidVideoError,
    VideoReader,
    VideoWriter,
    file_sha256,
    probe_video,
    recompress_h264,
    video_map,
    video_overlay,
)
from tests.bad_videos import EXPECTED_REASONS, make_bad_videos, make_good_video, mp4_boxes, pattern_frame

N_FRAMES, SIZE, FPS = 60, (160, 120), 30.0


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Good test videos, written once per module."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(7)
    vfr_times = np.concatenate([[0.0], np.cumsum(rng.uniform(0.02, 0.07, 39))])
    return {
        "good": make_good_video(root / "good.mp4", N_FRAMES, SIZE, FPS, gop=12, bframes=2),
        "ntsc": make_good_video(root / "ntsc.mp4", 20, SIZE, 30000 / 1001),
        "vfr": make_good_video(root / "vfr.mp4", len(vfr_times), SIZE, 25, times=vfr_times),
        "vfr_times": vfr_times,
        "rotated": make_good_video(root / "rotated.mp4", 10, SIZE, FPS, rotation=90),
        "root": root,
    }


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory):
    return make_bad_videos(tmp_path_factory.mktemp("bad"))


def decode_all_with_pyav(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


# --- probe -----------------------------------------------------------------------------------------------------


def test_probe_known_file(videos):
    props = probe_video(videos["good"])
    assert props.frame_count == N_FRAMES
    assert props.fps == pytest.approx(FPS, abs=1e-9)
    assert (props.width, props.height) == SIZE
    assert props.codec == "h264"
    assert props.pix_fmt == "yuv420p"
    assert props.rotation == 0
    assert props.duration == pytest.approx(N_FRAMES / FPS, abs=1e-6)
    np.testing.assert_allclose(props.timestamps, np.arange(N_FRAMES) / FPS, atol=1e-6)
    assert props.timestamps.dtype == np.float64
    assert not props.variable_frame_rate


def test_probe_fractional_frame_rate(videos):
    props = probe_video(videos["ntsc"])
    assert props.fps == pytest.approx(30000 / 1001, rel=1e-12)
    assert props.frame_count == 20
    assert not props.variable_frame_rate


def test_probe_variable_frame_rate_timestamps(videos):
    props = probe_video(videos["vfr"])
    expected = videos["vfr_times"]
    assert props.frame_count == len(expected)
    np.testing.assert_allclose(props.timestamps, expected, atol=2e-5)
    assert props.variable_frame_rate
    assert props.fps == pytest.approx((props.frame_count - 1) / expected[-1], rel=1e-4)
    assert props.duration > expected[-1]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_probe_rotation_roundtrip(tmp_path, rotation):
    props = probe_video(make_good_video(tmp_path / "r.mp4", 4, SIZE, rotation=rotation))
    assert props.rotation == rotation
    assert (props.width, props.height) == SIZE  # as stored, not as displayed


def test_probe_rotation_convention_matches_ffmpeg_display_matrix(tmp_path):
    # PyAV's set_display_rotation takes counter-clockwise degrees (FFmpeg's display matrix); a phone's portrait
    # video has -90 there, which players show by turning the frames 90 degrees clockwise.
    path = tmp_path / "ccw.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(-90)
        for i in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pattern_frame(i, (64, 48)), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert probe_video(path).rotation == 90


@pytest.mark.parametrize("kind", sorted(EXPECTED_REASONS))
def test_bad_video_refused_with_reason(bad_videos, kind):
    path = bad_videos[kind]
    with pytest.raises(InvalidVideoError) as caught:
        probe_video(path)
    error = caught.value
    assert EXPECTED_REASONS[kind] in error.reason.lower(), error.reason
    assert error.path == Path(path)
    assert str(error).startswith(f"{path}: ")
    assert isinstance(error, ValueError)


def test_bad_videos_are_deterministic(tmp_path):
    first, second = make_bad_videos(tmp_path / "a"), make_bad_videos(tmp_path / "b")
    for kind, path in first.items():
        if path.is_file():
            assert path.read_bytes() == second[kind].read_bytes(), kind


def test_probe_is_quiet_and_restores_ffmpeg_logging(bad_videos, capfd):
    level = av.logging.get_level()
    for kind in ("corrupted_middle", "truncated_faststart", "random_bytes", "no_decodable_frames"):
        with pytest.raises(InvalidVideoError):
            probe_video(bad_videos[kind])
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert av.logging.get_level() == level


def test_probe_keeps_ffmpeg_detail(bad_videos):
    # The decoder's own words differ between FFmpeg builds (a NAL error here, "left block unavailable" on CI),
    # so the test asserts that the decoder's message is kept, not its wording.
    with pytest.raises(InvalidVideoError, match=r"decoding failed after frame \d+ of \d+ \(FFmpeg: \w[^)]+\)"):
        probe_video(bad_videos["corrupted_middle"])


def test_concealed_decoder_errors_refused_only_when_strict(videos, tmp_path):
    # Flip one byte at a time inside the frame data until the decoder reports an error it could conceal
    # (every frame still comes out); about half the positions do, the others go unnoticed by any decoder.
    data = videos["good"].read_bytes()
    offset, size = mp4_boxes(data)["mdat"]
    path = tmp_path / "flipped.mp4"
    reason = ""
    for k in range(40):
        flipped = bytearray(data)
        flipped[offset + size // 3 + 97 * k] ^= 0x5A
        path.write_bytes(bytes(flipped))
        try:
            probe_video(path)
        except InvalidVideoError as error:
            reason = error.reason
        if "decoder reported" in reason:
            break
    else:
        pytest.fail("no single-byte flip produced a concealed decoder error")
    assert "corrupted" in reason
    assert probe_video(path, strict=False).frame_count == N_FRAMES


def test_invalid_video_error_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(InvalidVideoError("a/b.mp4", "truncated file")))
    assert (error.path, error.reason, str(error)) == (Path("a/b.mp4"), "truncated file", "a/b.mp4: truncated file")


def test_file_sha256_streams_in_chunks(videos):
    data = videos["good"].read_bytes()
    assert file_sha256(videos["good"], chunk=1000) == hashlib.sha256(data).hexdigest()


# --- reader ----------------------------------------------------------------------------------------------------


def test_reader_iterates_every_frame_like_pyav(videos):
    expected = decode_all_with_pyav(videos["good"])
    with VideoReader(videos["good"]) as reader:
        assert len(reader) == N_FRAMES
        assert reader.fps == pytest.approx(FPS)
        assert reader.size == SIZE
        frames = list(reader)
    assert len(frames) == N_FRAMES == len(expected)
    assert all(f.shape == (SIZE[1], SIZE[0], 3) and f.dtype == np.uint8 for f in frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected))
    # the content is the pattern that was written (up to compression), in order
    assert np.abs(frames[7].astype(int) - pattern_frame(7, SIZE)).mean() < 12
    assert np.abs(frames[7].astype(int) - pattern_frame(30, SIZE)).mean() > 30


def test_reader_bgr_format(videos):
    with VideoReader(videos["good"]) as rgb, VideoReader(videos["good"], format="bgr24") as bgr:
        assert np.array_equal(rgb[3][..., ::-1], bgr[3])


def test_test_video_has_several_gops_and_b_frames(videos):
    with av.open(str(videos["good"])) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert sum(p.is_keyframe for p in packets) >= 4
    assert any(p.pts != p.dts for p in packets)  # reordered (B) frames


@pytest.mark.parametrize("name", ["good", "vfr"])
def test_reader_seeks_exactly(videos, name):
    expected = decode_all_with_pyav(videos[name])
    order = list(range(len(expected)))
    random.Random(3).shuffle(order)
    with VideoReader(videos[name]) as reader:
        for index in order:
            assert np.array_equal(reader[index], expected[index]), f"frame {index}"
        assert np.array_equal(reader.read(-1), expected[-1])
        assert np.array_equal(reader[0], expected[0])  # backwards to the very start
        with pytest.raises(IndexError):
            reader[len(expected)]


def test_reader_iter_frames_ranges(videos):
    expected = decode_all_with_pyav(videos["good"])
    with VideoReader(videos["good"]) as reader:
        for start, stop, step in [(0, None, 1), (5, 41, 1), (3, None, 13), (10, 50, 7), (59, None, 1), (0, 60, 30)]:
            got = list(reader.iter_frames(start, stop, step))
            want = expected[slice(start, stop, step)]
            assert len(got) == len(want), (start, stop, step)
            assert all(np.array_equal(a, b) for a, b in zip(got, want)), (start, stop, step)
        # sequential reads after a seek continue from the new position
        reader[20]
        assert np.array_equal(reader[21], expected[21])


def test_reader_open_does_not_decode_the_file(bad_videos):
    # The index is intact but the second half of the frame data is missing: only decoding can notice.
    with VideoReader(bad_videos["truncated_faststart"]) as reader:
        assert len(reader) == 48
        first = reader[0]
        assert first.shape == (64, 128, 3)
        with pytest.raises(InvalidVideoError):
            for _ in reader:
                pass


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "audio_only", "still_png", "moov_destroyed"])
def test_reader_refuses_bad_files(bad_videos, kind):
    with pytest.raises(InvalidVideoError) as caught:
        VideoReader(bad_videos[kind])
    assert EXPECTED_REASONS[kind] in caught.value.reason.lower()


def test_reader_closes_on_exit_and_error(videos):
    with pytest.raises(RuntimeError), VideoReader(videos["good"]) as reader:
        next(iter(reader))
        raise RuntimeError("boom")
    assert reader._container is None
    with pytest.raises(ValueError, match="closed"):
        reader[0]


def test_reader_properties_probe_lazily(videos):
    with VideoReader(videos["vfr"]) as reader:
        assert reader._properties is None
        assert reader.properties.variable_frame_rate
        assert reader.properties.frame_count == len(reader)


# --- overlay ---------------------------------------------------------------------------------------------------


def draw_white_square(frame, index):
    frame[20:40, 10:30] = 255
    return frame


def test_overlay_draws_and_keeps_geometry(videos, tmp_path):
    source_hash = file_sha256(videos["good"])
    out = video_overlay(videos["good"], tmp_path / "overlay.mp4", draw_white_square)
    assert out == tmp_path / "overlay.mp4"
    props = probe_video(out)
    assert (props.frame_count, props.size, props.codec) == (N_FRAMES, SIZE, "h264")
    assert props.fps == pytest.approx(FPS)
    source = decode_all_with_pyav(videos["good"])
    with VideoReader(out) as reader:
        for index, frame in enumerate(reader):
            square = frame[22:38, 12:28]
            assert square.mean() > 245 and square.min() > 200, index
            same = np.abs(frame[60:, 40:].astype(int) - source[index][60:, 40:]).mean()
            other = np.abs(frame[60:, 40:].astype(int) - source[(index + 6) % N_FRAMES][60:, 40:]).mean()
            assert same < 8 and same < 0.5 * other, index  # the rest is this source frame (re-encoded), not another
    assert file_sha256(videos["good"]) == source_hash


def test_overlay_callback_may_return_new_array_and_sees_indices(videos, tmp_path):
    seen = []

    def black_out(frame, index):
        seen.append(index)
        return np.zeros_like(frame)

    out = video_overlay(videos["good"], tmp_path / "black.mp4", black_out, fps=10, progress=True)
    assert seen == list(range(N_FRAMES))
    props = probe_video(out)
    assert props.fps == pytest.approx(10)
    with VideoReader(out) as reader:
        assert max(int(frame.max()) for frame in reader) < 20


def test_overlay_raising_callback_leaves_no_file(videos, tmp_path):
    def fail_at_five(frame, index):
        if index == 5:
            raise KeyError("no keypoints")
        return frame

    out = tmp_path / "failed.mp4"
    with pytest.raises(KeyError):
        video_overlay(videos["good"], out, fail_at_five)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad_return", [None, "shape", "dtype"])
def test_overlay_rejects_bad_callback_results(videos, tmp_path, bad_return):
    def callback(frame, index):
        if bad_return == "shape":
            return frame[:-2]
        if bad_return == "dtype":
            return frame.astype(np.float32)
        return None

    with pytest.raises((TypeError, ValueError)):
        video_overlay(videos["good"], tmp_path / "x.mp4", callback)
    assert list(tmp_path.iterdir()) == []


def test_overlay_refuses_to_overwrite_source(videos):
    with pytest.raises(ValueError):
        video_overlay(videos["good"], videos["good"], draw_white_square)


def test_video_map_lets_the_transform_read_ahead(videos, tmp_path):
    """A stream transform may hold several frames (a model run on batches); the output is the same as a
    per-frame overlay's."""
    held = []

    def in_batches(frames):
        batch = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == 7:
                held.append(len(batch))
                yield from (draw_white_square(f, 0) for f in batch)
                batch = []
        held.append(len(batch))
        yield from (draw_white_square(f, 0) for f in batch)

    mapped = video_map(videos["good"], tmp_path / "mapped.mp4", in_batches)
    overlay = video_overlay(videos["good"], tmp_path / "overlay.mp4", draw_white_square)
    assert held == [7] * (N_FRAMES // 7) + [N_FRAMES % 7]
    # Same frames in the same order, compared decoded: here the two encodings are identical, but in loaded CI runs
    # one frame differed by a mean of 1.0 and once 3.5 grey levels (cause not found; x264's threading suspected),
    # while consecutive frames of this video differ by 10 or more. So each mapped frame must be its own overlay
    # frame's nearest, at less than half the distance to any other.
    with VideoReader(mapped) as a, VideoReader(overlay) as b:
        assert len(a) == len(b) == N_FRAMES
        ours, theirs = (np.stack([frame.astype(np.int16) for frame in reader]) for reader in (a, b))
    distance = np.stack([np.abs(frame - theirs).mean(axis=(1, 2, 3)) for frame in ours])  # (mapped, overlay)
    others = distance + np.diag(np.full(N_FRAMES, np.inf))
    assert (distance.diagonal() < 0.5 * others.min(axis=1)).all()


@pytest.mark.parametrize("wrong", ["fewer", "more", "stops_reading"])
def test_video_map_refuses_a_transform_that_loses_or_adds_frames(videos, tmp_path, wrong):
    def transform(frames):
        for index, frame in enumerate(frames):
            if wrong == "fewer" and index == 10:
                continue
            if wrong == "stops_reading" and index == 10:
                return
            yield frame
            if wrong == "more" and index == 10:
                yield frame

    with pytest.raises(ValueError, match="transform yielded"):
        video_map(videos["good"], tmp_path / "x.mp4", transform)
    assert list(tmp_path.iterdir()) == []


# --- recompress and writer --------------------------------------------------------------------------------------


def test_recompress_keeps_frames_timestamps_and_rotation(videos, tmp_path):
    for name in ("good", "vfr", "rotated"):
        before = probe_video(videos[name])
        after = probe_video(recompress_h264(videos[name], tmp_path / f"{name}.mp4", crf=23, preset="ultrafast"))
        assert after.frame_count == before.frame_count, name
        assert after.fps == pytest.approx(before.fps, rel=1e-4), name
        np.testing.assert_allclose(after.timestamps, before.timestamps, atol=2e-5, err_msg=name)
        assert after.variable_frame_rate == before.variable_frame_rate, name
        assert after.rotation == before.rotation, name
        assert (after.size, after.codec, after.pix_fmt) == (before.size, "h264", "yuv420p"), name
    with VideoReader(tmp_path / "good.mp4") as reader:
        assert np.abs(reader[30].astype(int) - pattern_frame(30, SIZE)).mean() < 15


def test_recompress_pads_odd_sizes_and_converts_pixel_format(tmp_path):
    source = tmp_path / "odd.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 95, 63, "yuv444p"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, (95, 63)), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    props = probe_video(recompress_h264(source, tmp_path / "even.mp4", preset="ultrafast"))
    assert (props.size, props.frame_count, props.pix_fmt) == ((96, 64), 12, "yuv420p")


def test_recompress_refuses_bad_source_and_leaves_nothing(bad_videos, tmp_path):
    with pytest.raises(InvalidVideoError):
        recompress_h264(bad_videos["corrupted_middle"], tmp_path / "out.mp4", preset="ultrafast")
    assert list(tmp_path.iterdir()) == []


def test_writer_removes_file_on_error_and_checks_frames(tmp_path):
    path = tmp_path / "w.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, 30, SIZE) as writer:
        writer.write(pattern_frame(0, SIZE))
        raise RuntimeError
    assert not path.exists()
    with VideoWriter(path, 30, SIZE) as writer:
        with pytest.raises(TypeError):
            writer.write(pattern_frame(0, SIZE).astype(np.float32))
        with pytest.raises(ValueError):
            writer.write(pattern_frame(0, (SIZE[0], SIZE[1] + 2)))
        writer.write(pattern_frame(0, SIZE), time=0.5)
        with pytest.raises(ValueError, match="increase"):
            writer.write(pattern_frame(1, SIZE), time=0.5)
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", 30, (161, 120))


def test_writer_time_base_is_exact_for_fractional_rates(tmp_path):
    writer = VideoWriter(tmp_path / "t.mp4", 30000 / 1001, SIZE)
    writer.close()
    frame_ticks = Fraction(1001, 30000) / writer.time_base
    assert frame_ticks.denominator == 1 and writer.time_base <= Fraction(1, 90000)
