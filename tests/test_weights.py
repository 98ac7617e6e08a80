"""The model-weights manifest: lookup, verification (size, sha256, cached), status table, clear errors."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from pose_pipeline import weights
from pose_pipeline.weights import WeightsError, load_manifest, require_data, require_weights, weights_status

GOOD = b"a good model file\n" * 100


def entry(name, path, **extra):
    return {
        "name": name,
        "path": path,
        "url": f"https://example.org/{name}.zip",
        "license": "Apache-2.0",
        "used_by": ["detection/yolox_onnx"],
        **extra,
    }


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    """A manifest in tmp_path with a present, an unverified, a missing, a corrupt and a wrong-size entry."""
    monkeypatch.delenv("POSE_PIPELINE_WEIGHTS", raising=False)
    monkeypatch.delenv("POSE_PIPELINE_MANIFEST", raising=False)
    (tmp_path / "models").mkdir()
    for name in ("good", "unverified", "corrupt", "short"):
        (tmp_path / "models" / f"{name}.onnx").write_bytes(GOOD)
    digest = hashlib.sha256(GOOD).hexdigest()
    entries = [
        entry("good", "models/good.onnx", sha256=digest, size=len(GOOD)),
        entry("unverified", "models/unverified.onnx", sha256=None, size=None),
        entry("missing", "models/missing.onnx", sha256=digest, archive_member="end2end.onnx"),
        entry("corrupt", "models/corrupt.onnx", sha256="0" * 64),
        entry("short", "models/short.onnx", sha256=digest, size=len(GOOD) + 1),
    ]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"models": entries}))
    return path


def test_status_table(manifest):
    table = weights_status(manifest)
    assert list(table["name"]) == ["good", "unverified", "missing", "corrupt", "short"]
    assert list(table["status"]) == ["present", "unverified", "missing", "corrupt", "corrupt"]
    good = table.set_index("name").loc["good"]
    assert good["size"] == len(GOOD) and good["path"] == str(manifest.parent / "models" / "good.onnx")
    assert {"url", "license", "used_by", "sha256", "expected_size", "message"} <= set(table.columns)


def test_require_returns_verified_and_unverified_files(manifest):
    assert require_weights("good", manifest) == manifest.parent / "models" / "good.onnx"
    assert require_weights("unverified", manifest) == manifest.parent / "models" / "unverified.onnx"


def test_missing_file_error_names_file_location_and_source(manifest):
    with pytest.raises(WeightsError) as error:
        require_weights("missing", manifest)
    message = str(error.value)
    assert "'missing'" in message and str(manifest.parent / "models" / "missing.onnx") in message
    assert "https://example.org/missing.zip" in message and "'end2end.onnx'" in message and "Apache-2.0" in message


def test_corrupt_file_errors_name_the_file(manifest):
    with pytest.raises(WeightsError, match=r"does not match the manifest: sha256 [0-9a-f]{64}, expected 0{64}"):
        require_weights("corrupt", manifest)
    with pytest.raises(WeightsError, match=f"has {len(GOOD)} bytes, the manifest expects {len(GOOD) + 1}"):
        require_weights("short", manifest)


def test_unknown_name_lists_the_known_ones(manifest):
    with pytest.raises(WeightsError, match="no model file named 'nope'.*known: corrupt, good, missing"):
        require_weights("nope", manifest)


def test_hash_is_cached_until_the_file_changes(manifest, monkeypatch):
    calls = []
    real = hashlib.file_digest

    def counting(f, name):
        calls.append(name)
        return real(f, name)

    monkeypatch.setattr(weights.hashlib, "file_digest", counting)
    monkeypatch.setattr(weights, "_hash_cache", {})
    for _ in range(3):
        require_weights("good", manifest)
    assert len(calls) == 1
    path = manifest.parent / "models" / "good.onnx"
    path.write_bytes(GOOD[::-1])  # same size, new content and modification time
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(WeightsError, match="does not match"):
        require_weights("good", manifest)
    assert len(calls) == 2


def test_a_file_changed_in_place_with_the_same_size_and_mtime_is_hashed_again(manifest, monkeypatch):
    """Size and modification time can be kept while the content changes (``touch -r``, ``cp -p``, a tool that
    restores them); the change time and inode cannot be set back, so the cached hash is not trusted."""
    monkeypatch.setattr(weights, "_hash_cache", {})
    path = manifest.parent / "models" / "good.onnx"
    require_weights("good", manifest)
    before = path.stat()
    with open(path, "r+b") as f:  # in place: same inode
        f.write(GOOD[::-1])
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    with pytest.raises(WeightsError, match="does not match"):
        require_weights("good", manifest)

    replacement = path.with_name("replacement.onnx")  # a new file moved over it, size and mtime copied
    replacement.write_bytes(GOOD)
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)
    assert require_weights("good", manifest) == path


def test_directories_in_the_environment_are_searched_first(manifest, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "models").mkdir(parents=True)
    (elsewhere / "models" / "missing.onnx").write_bytes(GOOD)
    monkeypatch.setenv("POSE_PIPELINE_WEIGHTS", os.pathsep.join([str(tmp_path / "empty"), str(elsewhere)]))
    assert require_weights("missing", manifest) == elsewhere / "models" / "missing.onnx"
    assert require_weights("good", manifest) == manifest.parent / "models" / "good.onnx"  # falls back


def test_manifest_from_the_environment(manifest, monkeypatch):
    monkeypatch.setenv("POSE_PIPELINE_MANIFEST", str(manifest))
    assert set(load_manifest()) == {"good", "unverified", "missing", "corrupt", "short"}
    assert require_weights("good").name == "good.onnx"


@pytest.mark.parametrize(
    "bad, message",
    [
        (entry("a", "/abs/model.onnx"), "must be relative"),
        (entry("a", "../model.onnx"), "must be relative"),
        (entry("a", "m.onnx", sha256="xyz"), "64 hex digits"),
        (entry("a", "m.onnx", size=-3), "positive integer"),
        ({"name": "a", "path": "m.onnx"}, r"lacks \['license', 'url', 'used_by'\]"),
    ],
)
def test_bad_manifest_entries_are_refused(tmp_path, bad, message):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"models": [bad]}))
    with pytest.raises(WeightsError, match=message):
        load_manifest(path)


def test_duplicate_and_unreadable_manifests(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"models": [entry("a", "a.onnx"), entry("a", "b.onnx")]}))
    with pytest.raises(WeightsError, match="'a' appears twice"):
        load_manifest(path)
    path.write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_manifest(path)
    with pytest.raises(WeightsError, match="no weights manifest at"):
        load_manifest(tmp_path / "absent.json")


def test_the_project_manifest(monkeypatch):
    monkeypatch.delenv("POSE_PIPELINE_MANIFEST", raising=False)
    entries = load_manifest()
    assert {"yolox_m_humanart", "yolox_tiny_humanart", "rtmdet_nano_person"} <= set(entries)
    for item in entries.values():
        assert (
            item.license
            and item.used_by
            and item.path.endswith((".onnx", ".tflite", ".pkl", ".npz"))
            and (item.url or item.notes)
        )
        if item.path.startswith("body_models/"):  # the user's SMPL-family files, laid out as smplx reads them
            assert item.path.split("/")[1] in ("smpl", "smplh", "smplx") and item.used_by == ("smpl/smplify",)
        if any(user.startswith("detection/") for user in item.used_by):
            assert len(item.extra["input_size"]) == 2 and item.path.startswith("detectors/")
            if item.name != "yolox_nano_coco":  # the one shipped detector; the others are OpenMMLab downloads
                assert item.url.startswith("https://download.openmmlab.com/") and item.archive_member == "end2end.onnx"
    table = weights_status()
    assert set(table["status"]) <= {"present", "unverified", "missing", "corrupt"} and len(table) == len(entries)
    # shipped in the repository: present and verified in every checkout
    shipped = table.set_index("name").loc[
        ["synthetic_pose_coco17", "blazepose_full", "blazepose_full_tflite", "yolox_nano_coco"]
    ]
    assert set(shipped["status"]) == {"present"}, shipped["message"].tolist()
    data = weights_status(section="data").set_index("name")
    assert data.loc["sports2d_demo", "status"] == "present"
    assert require_data("sports2d_demo").name == "sports2d_demo.mp4"


def test_data_entries_are_checked_like_model_files(tmp_path, monkeypatch):
    clip = tmp_path / "data" / "clip.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"not the clip")
    path = tmp_path / "manifest.json"
    entry = {"name": "clip", "path": "data/clip.mp4", "url": "u", "license": "l", "used_by": ["t"]}
    wrong = {**entry, "sha256": "0" * 64}
    path.write_text(json.dumps({"models": [], "data": [wrong]}))
    monkeypatch.setenv("POSE_PIPELINE_MANIFEST", str(path))
    monkeypatch.delenv("POSE_PIPELINE_WEIGHTS", raising=False)
    with pytest.raises(WeightsError, match=r"data file 'clip' at .*clip.mp4 does not match the manifest"):
        require_data("clip")
    with pytest.raises(WeightsError, match="no model file named 'clip'"):
        require_weights("clip")  # a data entry is not a model file
    clip.unlink()
    with pytest.raises(WeightsError, match="data file 'clip' .* is missing"):
        require_data("clip")


def test_cli_lists_the_shipped_detector_and_clip_as_present(monkeypatch):
    from click.testing import CliRunner

    from pose_pipeline.cli import main

    monkeypatch.delenv("POSE_PIPELINE_MANIFEST", raising=False)
    monkeypatch.delenv("POSE_PIPELINE_WEIGHTS", raising=False)
    result = CliRunner().invoke(main, ["weights"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines() if len(line.split()) > 1}
    assert lines["yolox_nano_coco"] == "present" and lines["sports2d_demo"] == "present"
