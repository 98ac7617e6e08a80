"""A small user schema module for worker tests: jobs whose duration and failure the test controls.

``Result.make`` inserts its master row, waits, then inserts its part rows, so a worker killed mid-job would
leave a master without parts if jobs were not transactional. Each start of a job is appended to the file in
``WORKER_TEST_LOG`` (outside the transaction), so a test can count how often each key was computed.

``Stored.make`` has side effects a test can count: a file in the derived store (written before the row, as every
stored result is) and an `Effect` row per committed computation; its starts go to ``WORKER_TEST_STORED_LOG``.
"""

import os
import tempfile
import time
import uuid
from pathlib import Path

import datajoint as dj

from pose_pipeline.schema.files import insert_with_file

STAGE = "worker_test"
schema = dj.Schema()


@schema
class Item(dj.Manual):
    """One job to do."""

    definition = """
    item_id   : int32
    ---
    seconds   : float64   # how long make() takes
    fail      : bool      # make() raises
    """


@schema
class Result(dj.Computed):
    """The result of one item: its square, and which process computed it."""

    definition = """
    -> Item
    ---
    square    : int64
    pid       : int32
    """

    class Part(dj.Part):
        """Three rows per result, inserted after a delay."""

        definition = """
        -> master
        part      : int8
        """

    def make(self, key):
        seconds, fail = (Item & key).fetch1("seconds", "fail")
        log = os.environ.get("WORKER_TEST_LOG")
        if log:
            with open(log, "a") as f:
                f.write(f"{key['item_id']} {os.getpid()}\n")
        if fail:
            raise ValueError(f"item {key['item_id']} is meant to fail")
        self.insert1(dict(key, square=key["item_id"] ** 2, pid=os.getpid()))
        time.sleep(seconds)
        self.Part.insert([dict(key, part=i) for i in range(3)])


@schema
class Effect(dj.Manual):
    """One committed computation of a `Stored` key (inserted inside its make(), so only committed ones remain)."""

    definition = """
    -> Item
    attempt   : varchar(32)   # a random id per computation
    ---
    pid       : int32
    """


@schema
class Stored(dj.Computed):
    """A small file per item in the derived store, written halfway through a job that takes ``seconds``."""

    definition = """
    -> Item
    ---
    file      : <object@derived>
    sha256    : char(64)
    """

    def make(self, key):
        seconds = (Item & key).fetch1("seconds")
        log = os.environ.get("WORKER_TEST_STORED_LOG")
        if log:
            with open(log, "a") as f:
                f.write(f"{key['item_id']} {os.getpid()}\n")
        time.sleep(seconds / 2)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "result.txt"
            path.write_text(f"{key['item_id']}\n")
            insert_with_file(self, dict(key), "file", path)
        Effect.insert1(dict(key, attempt=uuid.uuid4().hex, pid=os.getpid()))
        time.sleep(seconds / 2)  # a kill here leaves the file written and the transaction open


ROOT_TABLES = (Item,)
