"""Configuration a user writes by hand: secrets in ``.secrets/`` without a ``datajoint.json``, and what
``pose-pipeline db status`` prints about them (never the secrets)."""

from __future__ import annotations

import copy

import datajoint as dj
import pytest
from click.testing import CliRunner

from pose_pipeline import database
from pose_pipeline.cli import main


@pytest.fixture
def no_secrets_loaded():
    """DataJoint's config as a process without datajoint.json starts: no secrets read, no password set. The
    stores are restored from a deep copy: loading secrets writes into the nested per-store dicts."""
    secrets_dir, password = dj.config._secrets_dir, dj.config.database.password
    stores = copy.deepcopy(dict(dj.config.stores))
    dj.config._secrets_dir, dj.config.database.password = None, None
    yield
    dj.config._secrets_dir, dj.config.database.password = secrets_dir, password
    dj.config["stores"] = stores


def _secrets(root, **files):
    folder = root / ".secrets"
    folder.mkdir()
    for name, value in files.items():
        (folder / name.replace("__", ".")).write_text(value + "\n")
    (root / ".git").mkdir()  # a project root: the search for .secrets stops here
    return folder


def test_secrets_are_read_without_a_datajoint_json(tmp_path, monkeypatch, no_secrets_loaded):
    folder = _secrets(tmp_path, database__password="s3cret", stores__raw__secret_key="abc")
    (tmp_path / "analysis").mkdir()
    monkeypatch.chdir(tmp_path / "analysis")  # found from a sub-directory of the project, like datajoint.json
    assert database.load_secrets() == folder
    assert dj.config.database.password.get_secret_value() == "s3cret"
    assert dj.config.stores["raw"]["secret_key"] == "abc"


def test_a_password_set_elsewhere_wins(tmp_path, monkeypatch, no_secrets_loaded):
    _secrets(tmp_path, database__password="from-file")
    monkeypatch.chdir(tmp_path)
    dj.config.database.password = "from-environment"
    database.load_secrets()
    assert dj.config.database.password.get_secret_value() == "from-environment"


def test_nothing_is_read_above_the_project_root(tmp_path, monkeypatch, no_secrets_loaded):
    _secrets(tmp_path, database__password="outer")
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    monkeypatch.chdir(project)
    assert database.load_secrets() is None and dj.config.database.password is None


def test_db_status_masks_store_credentials(db, no_secrets_loaded):
    dj.config.database.password = ""
    stores = dict(dj.config.stores)
    stores["archive"] = {
        "protocol": "s3",
        "endpoint": "s3.example.org",
        "bucket": "videos",
        "location": "pose",
        "access_key": "AKIAEXAMPLEKEYID1234",
        "secret_key": "wJalrXUtnFEMIexampleSECRET",
    }
    dj.config["stores"] = stores
    result = CliRunner().invoke(main, ["db", "status"])
    assert result.exit_code == 0, result.output
    assert "s3.example.org" in result.output and "videos" in result.output
    assert "AKIAEXAMPLEKEYID1234" not in result.output and "wJalrXUtnFEMIexampleSECRET" not in result.output
    assert "'access_key': '***'" in result.output and "'secret_key': '***'" in result.output
