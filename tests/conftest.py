"""Test fixtures: real database servers, one schema prefix per run, dropped afterwards.

Backends: the embedded PostgreSQL (always), and the PostgreSQL and MariaDB servers on 127.0.0.1 when reachable.
``POSE_PIPELINE_TEST_BACKENDS`` (comma-separated: embedded, postgres, mariadb) chooses; a backend named there
explicitly must be reachable or its tests fail.

Which database tests run where: a test marked ``all_backends`` (a whole file: ``pytestmark``) runs once per backend;
mark what depends on the database server (jobs and workers, codecs and stores, collation, declarations, the video
stage's import and fetch, the registry tables). Every other test that uses the ``backend`` fixture runs once, on
the embedded backend, or on the first backend named when ``POSE_PIPELINE_TEST_BACKENDS`` leaves it out (so
``POSE_PIPELINE_TEST_BACKENDS=mariadb`` runs the whole suite against MariaDB).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # small matrices: threading only costs here (see DESIGN.md)

import json
import shutil
import socket
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVERS = {
    "postgres": {"backend": "postgresql", "host": "127.0.0.1", "port": 5432, "user": "postgres", "password": ""},
    "mariadb": {"backend": "mysql", "host": "127.0.0.1", "port": 3306, "user": "root", "password": ""},
}


def _requested_backends() -> tuple[list[str], bool]:
    explicit = os.environ.get("POSE_PIPELINE_TEST_BACKENDS")
    if explicit:
        return [b.strip() for b in explicit.split(",") if b.strip()], True
    return ["embedded", *SERVERS], False


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


BACKENDS, BACKENDS_EXPLICIT = _requested_backends()
ONCE_BACKEND = "embedded" if "embedded" in BACKENDS else BACKENDS[0]  # where unmarked database tests run


def pytest_generate_tests(metafunc):
    """Parametrize ``backend``: every requested backend for ``all_backends`` tests, else ``ONCE_BACKEND`` only."""
    if "backend" in metafunc.fixturenames:
        names = BACKENDS if metafunc.definition.get_closest_marker("all_backends") else [ONCE_BACKEND]
        metafunc.parametrize("backend", names, indirect=True, scope="session")


def pytest_report_header(config):
    reachable = ["embedded"] + [n for n, s in SERVERS.items() if _reachable(s["host"], s["port"])]
    return f"database backends requested: {', '.join(BACKENDS)}; reachable: {', '.join(reachable)}"


@dataclass
class Backend:
    """The database a test runs against, and the environment a subprocess (a worker) needs to reach it."""

    name: str
    env: dict[str, str] = field(default_factory=dict)

    def subprocess_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("pose_pipeline_home")
    os.environ["POSE_PIPELINE_HOME"] = str(home)
    return home


def server_data_dir() -> Path:
    """A data directory for a test's own PostgreSQL, outside pytest's temporary tree.

    Run as root, pgserver runs PostgreSQL as a 'pgserver' user that must reach the directory; pytest resets
    its temporary root to mode 0700 whenever a pytest session starts, which would lock that user out.
    """
    path = Path(tempfile.mkdtemp(prefix="pose_pipeline_test_pg_"))
    path.chmod(0o755)
    return path / "pgdata"


@pytest.fixture(scope="session")
def embedded_socket_dir(pipeline_home) -> str:
    from pose_pipeline import database

    data_dir = server_data_dir()
    server = database.start_embedded_server(data_dir)
    yield database._socket_dir_from_uri(server.get_uri())
    server.cleanup()
    shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")  # parametrized by pytest_generate_tests
def backend(request, pipeline_home) -> Backend:
    """Activate the pipeline on one backend under a fresh schema prefix; drop everything afterwards."""
    import datajoint as dj

    from pose_pipeline import database, schema

    name = request.param
    if name == "embedded":
        settings = {
            "backend": "postgresql",
            "host": request.getfixturevalue("embedded_socket_dir"),
            "port": 5432,
            "user": "postgres",
            "password": "",
        }
    else:
        settings = SERVERS[name]
        if not _reachable(settings["host"], settings["port"]):
            message = f"{name} server not reachable at {settings['host']}:{settings['port']}"
            if BACKENDS_EXPLICIT:
                pytest.fail(message)
            pytest.skip(message)

    prefix = f"ppt_{uuid.uuid4().hex[:8]}"
    stores = {
        "raw": {"protocol": "file", "location": str(pipeline_home / name / "raw")},
        "derived": {"protocol": "file", "location": str(pipeline_home / name / "derived")},
        "default": "derived",
    }
    for spec in stores.values():
        if isinstance(spec, dict):
            Path(spec["location"]).mkdir(parents=True, exist_ok=True)
    env = {
        "DJ_BACKEND": settings["backend"],
        "DJ_HOST": settings["host"],
        "DJ_PORT": str(settings["port"]),
        "DJ_USER": settings["user"],
        "DJ_PASS": settings["password"],
        "DJ_USE_TLS": "false",
        "DJ_STORES": json.dumps(stores),
        "POSE_PIPELINE_SCHEMA_PREFIX": prefix,
        "POSE_PIPELINE_HOME": str(pipeline_home),
    }
    os.environ.update(env)
    for key, value in settings.items():
        dj.config[f"database.{key}"] = value
    dj.config["database.use_tls"] = False
    dj.config["stores"] = stores
    dj.config["safemode"] = False
    dj.conn(reset=True)
    database.configure()
    schema.activate()
    try:
        yield Backend(name=name, env=env)
    finally:
        _drop_user_schemas(prefix)
        schema.deactivate(drop=True)


def _drop_user_schemas(prefix: str) -> None:
    """Drop this run's schemas of user modules (e.g. the example experiment, which a notebook's kernel may have
    activated without this process; ``<prefix>_<stage>``, or ``lab_<prefix>_<stage>`` for a module with its own
    ``SCHEMA_PREFIX``): their tables reference the pipeline's, so they go first."""
    import datajoint as dj

    from pose_pipeline import database, schema

    conn = database.connect()
    stages = {f"{prefix}_{stage}" for stage in schema.STAGE_MODULES}
    for name in dj.list_schemas(conn):
        if name.startswith((f"{prefix}_", f"lab_{prefix}_")) and name not in stages:
            conn.query(conn.adapter.drop_schema_sql(name))


@pytest.fixture
def db(backend):
    """A backend with empty pipeline tables before and after the test."""
    _empty_tables()
    yield backend
    _empty_tables()


def _empty_tables():
    from pose_pipeline import schema

    for module in reversed(schema.stage_modules()):
        for table in getattr(module, "ROOT_TABLES", ()):
            if len(table()):  # a cascading delete takes about 0.3 s even when there is nothing to delete
                table.delete(prompt=False)


@pytest.fixture(scope="session")
def tiny_dlc_model(tmp_path_factory):
    """A DeepLabCut model (MobileNetV2) trained for 20 iterations on 16 synthetic reaching frames of 64 x 64 (about
    10 s on a CPU), with several snapshots (`pose_pipeline.dlc.training.TrainingRun`). Barely trained:
    tests check how its predictions are mapped and stored, never their accuracy."""
    pytest.importorskip("deeplabcut")
    from pose_pipeline.dlc.project import LabelledFrames
    from pose_pipeline.dlc.training import TrainingPlan, TrainingSettings, train_model
    from pose_pipeline.synthetic.reaching import render_reaching

    data = render_reaching(24, size=(64, 64), seed=1)
    frames = LabelledFrames(
        data.bodyparts,
        tuple((data.bodyparts[a], data.bodyparts[b]) for a, b in data.skeleton),
        tuple(f"img{i:03d}.png" for i in range(len(data.images))),
        data.keypoints,
        lambda i: data.images[i],
        visibility=data.visibility,
    )
    return train_model(
        frames,
        tmp_path_factory.mktemp("tiny_dlc_model"),
        train_indices=range(16),
        test_indices=range(20, 24),
        settings=TrainingSettings(backbone="mobilenet_v2_1.0", batch_size=4),
        plan=TrainingPlan(iterations=20, snapshot_every=10, train_frames=16, batch_size=4),
        seed=0,
        device="cpu",
    )
