"""Where the pipeline's data lives: the database connection and the file stores.

Configuration is DataJoint's own (``datajoint.json``, ``.secrets/``, ``DJ_*`` variables). This module only
fills the gaps a new user would otherwise have to fill by hand:

- no database host configured: start an embedded PostgreSQL server (the ``pgserver`` package) in a per-user
  data directory, keep its data across runs;
- no stores configured: a ``raw`` store for source videos and a ``derived`` store for computed files, both
  under the per-user data directory;
- attachments are fetched into a managed cache, never into the working directory;
- ``.secrets/`` is read also without a ``datajoint.json`` (DataJoint reads it only next to one);
- on MariaDB, the store-codec bug of DataJoint 2.3.5 (issue #1451) is patched, and on PostgreSQL its doubling of
  backslashes in restrictions (``_datajoint_fixes``).

The per-user data directory is ``POSE_PIPELINE_HOME`` if set, else the platform's user data directory.
Schema names are ``<prefix>_<stage>`` with the prefix from ``POSE_PIPELINE_SCHEMA_PREFIX`` (default
``pose_pipeline``), so several pipelines (or test runs) can share one server.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import datajoint as dj

logger = logging.getLogger(__name__)

RAW_STORE = "raw"
DERIVED_STORE = "derived"
DEFAULT_SCHEMA_PREFIX = "pose_pipeline"

_embedded_server = None


def home() -> Path:
    """The per-user directory holding the embedded database, default stores and the video cache."""
    explicit = os.environ.get("POSE_PIPELINE_HOME")
    if explicit:
        path = Path(explicit).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("pose_pipeline", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Managed cache for attachments fetched from the stores (videos), outside the working directory."""
    path = home() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def schema_prefix() -> str:
    prefix = os.environ.get("POSE_PIPELINE_SCHEMA_PREFIX", DEFAULT_SCHEMA_PREFIX)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
        raise ValueError(f"POSE_PIPELINE_SCHEMA_PREFIX={prefix!r}: use lower-case letters, digits and underscores")
    return prefix


def schema_name(stage: str) -> str:
    """The database schema that holds one stage's tables."""
    return f"{schema_prefix()}_{stage}"


def host_is_configured() -> bool:
    """True when the user pointed DataJoint at a server (datajoint.json, DJ_HOST or dj.config at runtime)."""
    if os.environ.get("DJ_HOST"):
        return True
    if dj.config._config_path is not None:
        return True
    return dj.config.database.host not in ("localhost", "", None)


def load_secrets(start: Path | None = None) -> Path | None:
    """Read ``.secrets/`` (``database.password``, ``stores.<name>.<attr>``...) when DataJoint did not.

    DataJoint reads the project's ``.secrets/`` only next to a ``datajoint.json``; a user who configures with
    ``DJ_*`` variables and keeps the password in ``.secrets/database.password`` would otherwise connect without it.
    The directory is looked for like DataJoint looks for ``datajoint.json``: here and upwards, stopping at a
    repository root. Values already set (config file, environment) win, as in DataJoint. Returns the directory read.
    """
    if dj.config._secrets_dir is not None or dj.config.ignore_config_file:
        return None
    current = (start or Path.cwd()).resolve()
    while True:
        candidate = current / ".secrets"
        if candidate.is_dir():
            dj.config._load_secrets(candidate)
            return candidate
        if (current / ".git").exists() or (current / ".hg").exists() or current == current.parent:
            return None
        current = current.parent


def start_embedded_server(data_dir: Path | None = None):
    """Start (or attach to) the embedded PostgreSQL server and point DataJoint at it. Returns the server handle."""
    global _embedded_server
    if _embedded_server is not None:
        return _embedded_server
    data_dir = Path(data_dir) if data_dir is not None else home() / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on headless machines
        import pgserver

        _put_sbin_on_path()
        # 'stop': the server stops when the last process using it exits; the data directory stays.
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    _forget_dead_users(server)
    socket_dir = _socket_dir_from_uri(server.get_uri())
    dj.config["database.backend"] = "postgresql"
    dj.config["database.host"] = socket_dir
    dj.config["database.port"] = 5432  # DataJoint's default stays 3306 even with backend postgresql
    dj.config["database.user"] = "postgres"
    dj.config["database.password"] = ""
    dj.config["database.use_tls"] = False
    _embedded_server = server
    return server


def _put_sbin_on_path() -> None:
    """PostgreSQL refuses to run as root, so pgserver, started by root, runs it as a user ``pgserver`` that it
    creates with ``useradd`` on first use. ``useradd`` lives in /usr/sbin, which a root shell started with a
    minimal PATH (``env -i``, some CI runners and containers) does not search: the first start then fails with
    "No such file or directory: 'useradd'"."""
    if os.name != "posix" or os.geteuid() != 0:
        return
    parts = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in ("/usr/local/sbin", "/usr/sbin", "/sbin") if d not in parts and Path(d).is_dir()]
    if missing:
        os.environ["PATH"] = os.pathsep.join([p for p in parts if p] + missing)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (also when another user owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _forget_dead_users(server) -> None:
    """Make the embedded server stop when its last *live* user exits.

    pgserver counts its users in a handle file (``.handle_pids.json`` in the data directory): each process adds its
    pid when it attaches and removes it at exit, and the last one out stops the server. A process killed with
    SIGKILL never removes its pid, so the server would run forever. Here the list is read without pids of processes
    that no longer exist, now and whenever pgserver reads it (at exit too). A dead pid reused by an unrelated live
    process still counts as a user until that process exits.
    """
    from pgserver.utils import DiskList

    class LiveUsers(DiskList):
        def get(self) -> list[int]:
            return [pid for pid in super().get() if process_alive(pid)]

    users = LiveUsers(server.global_process_id_list.path)
    server.global_process_id_list = users
    with server._lock:  # pgserver's inter-process lock around its handle file
        users.put(users.get())


def _socket_dir_from_uri(uri: str) -> str:
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(uri).query)
    if "host" not in query:
        raise RuntimeError(f"embedded PostgreSQL gave an unexpected connection URI: {uri}")
    return query["host"][0]


def configure_stores() -> None:
    """Add the raw and derived stores under the per-user directory unless the user configured them."""
    stores = dict(dj.config.stores) if dj.config.stores else {}
    changed = False
    for name in (RAW_STORE, DERIVED_STORE):
        if name not in stores:
            location = home() / "stores" / name
            location.mkdir(parents=True, exist_ok=True)
            stores[name] = {"protocol": "file", "location": str(location)}
            changed = True
    if "default" not in stores:
        stores["default"] = DERIVED_STORE
        changed = True
    if changed:
        dj.config["stores"] = stores


def configure() -> None:
    """Complete DataJoint's configuration with the pipeline's defaults. Idempotent; does not connect."""
    load_secrets()
    if not host_is_configured():
        start_embedded_server()
    configure_stores()
    dj.config["download_path"] = str(cache_dir())
    from ._datajoint_fixes import apply_fixes

    apply_fixes()


def connect(reset: bool = False) -> dj.Connection:
    """Configure (embedded server if nothing else is configured) and return DataJoint's connection."""
    configure()
    return dj.conn(reset=reset)


@dataclass(frozen=True)
class DatabaseStatus:
    """What `pose-pipeline db status` prints."""

    backend: str
    server: str
    user: str
    embedded: bool
    server_version: str
    schema_prefix: str
    schemas: tuple[str, ...]
    stores: dict
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [
            f"backend   : {self.backend}{' (embedded)' if self.embedded else ''}  {self.server_version}",
            f"server    : {self.server}",
            f"user      : {self.user}",
            f"schemas   : {', '.join(self.schemas) or '(none yet)'}  [prefix {self.schema_prefix}]",
            "stores    :",
        ]
        for name, spec in self.stores.items():
            lines.append(f"  {name:8s}: {spec}")
        lines += [f"warning   : {warning}" for warning in self.warnings]
        return "\n".join(lines)


def status() -> DatabaseStatus:
    """Connect and describe backend, server, schemas of this pipeline and stores."""
    conn = connect()
    backend = dj.config.database.backend
    setting_warnings = []
    if backend == "postgresql":
        version = conn.query("SELECT version()").fetchone()[0].split(",")[0]
        names = [r[0] for r in conn.query("SELECT schema_name FROM information_schema.schemata").fetchall()]
    else:
        version = conn.query("SELECT version()").fetchone()[0]
        names = [r[0] for r in conn.query("SHOW DATABASES").fetchall()]
        setting_warnings = _mysql_setting_warnings(conn)
    prefix = schema_prefix()
    stores = {name: masked(spec) for name, spec in dict(dj.config.stores).items() if isinstance(spec, dict)}
    stores["default"] = dj.config.stores.get("default")
    return DatabaseStatus(
        backend=backend,
        server=f"{dj.config.database.host}:{dj.config.database.port}",
        user=str(dj.config.database.user),
        embedded=_embedded_server is not None,
        server_version=version,
        schema_prefix=prefix,
        schemas=tuple(sorted(n for n in names if n.startswith(prefix + "_"))),
        stores=stores,
        warnings=tuple(setting_warnings),
    )


_SECRET_WORDS = ("secret", "password", "key", "token", "credential")


def masked(spec: dict) -> dict:
    """A store's settings with every credential (access key ids too: they identify an account) shown as ``***``."""
    return {k: "***" if any(word in k.lower() for word in _SECRET_WORDS) else v for k, v in dict(spec).items()}


MIN_MAX_ALLOWED_PACKET = 64 * 1024**2


def _mysql_setting_warnings(conn) -> list[str]:
    """Server settings that break long videos or case-sensitive names later, said now."""
    packet, collation = conn.query("SELECT @@max_allowed_packet, @@collation_server").fetchone()
    found = []
    if int(packet) < MIN_MAX_ALLOWED_PACKET:
        found.append(
            f"max_allowed_packet is {int(packet) // 1024**2} MB; keypoint arrays of long videos need more "
            f"(set max_allowed_packet=1G on the server)"
        )
    if not str(collation).endswith("_bin"):
        found.append(
            f"server collation {collation} ignores case; the pipeline creates its own schemas with utf8mb4_bin, "
            "but schemas made by other tools will not distinguish 'Nose' from 'nose'"
        )
    return found
