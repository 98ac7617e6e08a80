"""The embedded database every benchmark runs on: a fresh home and schema prefix, whatever the shell configured."""

from __future__ import annotations

import os
from pathlib import Path


def use_embedded_database(home: Path, prefix: str) -> None:
    """Point the pipeline at an embedded PostgreSQL in ``home`` under schema ``prefix``; any ``DJ_*`` server settings
    of the shell are dropped so a benchmark never touches a shared server. Call before importing the schemas."""
    os.environ["POSE_PIPELINE_HOME"] = str(home)
    os.environ["POSE_PIPELINE_SCHEMA_PREFIX"] = prefix
    for var in [v for v in os.environ if v.startswith("DJ_")]:
        del os.environ[var]
    import datajoint as dj

    dj.config["safemode"] = False
