"""A small user schema module for worker tests: jobs whose duration and failure the test controls.

``Result.make`` inserts its master row, waits, then inserts its part rows, so a worker killed mid-job would
leave a master without parts if jobs were not transactional. Each start of a job is appended to the file in
``WORKER_TEST_LOG`` (outside the transaction), so a test can count how often each key was computed.
"""

import os
import time

import datajoint as dj

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


ROOT_TABLES = (Item,)
