"""pose_pipeline: videos of people and animals in, tracked, checked, queryable pose data out.

Importing the package connects to nothing and imports no deep-learning framework. Start with::

    from pose_pipeline import schema
    schema.activate()                      # embedded PostgreSQL unless DataJoint is configured otherwise
    from pose_pipeline.schema.video import Video, VideoInfo, insert_local_video
"""

import warnings

# With no datajoint.json the pipeline uses its embedded default on purpose; DataJoint's warning would only
# alarm a new user.
warnings.filterwarnings("ignore", message="No datajoint.json found", category=UserWarning)

__version__ = "0.2.0"
