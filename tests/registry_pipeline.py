"""A user schema module in the pipeline's Lookup -> Method -> Computed pattern, for testing the registry mechanism
against a real database before the first real algorithm stage exists."""

import datajoint as dj
import numpy as np

from pose_pipeline.formats import Tracks
from pose_pipeline.registry import MethodCall, Registry
from pose_pipeline.schema.requests import MethodRequest
from pose_pipeline.schema.runs import PROVENANCE_DEFINITION, run_stage

STAGE = "registry_test"
schema = dj.Schema()
TOY = Registry("toy_tracking", output=Tracks)


@TOY.register("diagonal", version="1.0", params={"step": 1.0})
def diagonal(step):
    """One box moving diagonally by ``step`` pixels per frame."""

    def run(n_frames):
        frames = np.arange(n_frames)
        boxes = np.stack([frames * step, frames * step, np.full(n_frames, 10.0), np.full(n_frames, 20.0)], axis=1)
        return Tracks(frame=frames, track_id=np.zeros(n_frames, int), boxes=boxes, confidence=np.ones(n_frames))

    return run


@TOY.register("broken", version="1.0")
def broken():
    """Returns a box with negative width: its output must never reach the database."""
    return lambda n_frames: Tracks(np.array([0]), np.array([0]), np.array([[0.0, 0.0, -1.0, 1.0]]), np.array([1.0]))


@schema
class ToyMethodLookup(dj.Lookup):
    """One registered toy tracking method (rows come from the TOY registry)."""

    registry = TOY
    definition = """
    method_name     : varchar(32)
    ---
    version         : varchar(16)
    default_params  : varchar(1000)
    output_contract : varchar(32)
    requires        : varchar(255)
    device          : varchar(8)
    description     : varchar(1000)
    """


@schema
class ToyInput(dj.Manual):
    """A fake video: just a frame count."""

    definition = """
    input_id  : int32
    ---
    n_frames  : int32
    """


@schema
class ToyMethod(MethodRequest, dj.Manual):
    """Run toy method M with one parameter set on input K."""

    methods = (("method_name", TOY, "params"),)
    hash_attribute = "toy_params_hash"
    definition = """
    -> ToyInput
    -> ToyMethodLookup
    toy_params_hash : char(32)
    ---
    params          : json   # the method's parameters, defaults merged in
    """


@schema
class ToyTracks(dj.Computed):
    """The tracks one method produced on one input."""

    definition = (
        """
    -> ToyMethod
    ---
    n_tracks  : int32
    boxes     : <blob>
    """
        + PROVENANCE_DEFINITION
    )

    def make(self, key):
        n_frames = (ToyInput & key).fetch1("n_frames")
        params = (ToyMethod & key).fetch1("params")
        tracks, columns = run_stage(lambda method: method(n_frames), MethodCall(TOY, key["method_name"], params),
                                    n_frames=n_frames)  # fmt: skip
        self.insert1({**key, "n_tracks": tracks.n_tracks, "boxes": tracks.boxes, **columns})


METHOD_LOOKUPS = (ToyMethodLookup,)
METHOD_REQUESTS = (ToyMethod,)
ROOT_TABLES = (ToyInput,)
