"""Writers of results in other tools' formats: pure functions on a stage's output contract, its joint set and
timestamps (`Result2D`), never the database (`pose_pipeline.schema.exports` fetches a stored result and calls
them).

- `write_nwb`: NWB with ndx-pose (pynwb, sleap-io)
- `write_dlc_h5`, `write_dlc_csv`: DeepLabCut analysis files (DeepLabCut, anipose)
- `write_coco`: COCO keypoint JSON (pycocotools)
- `write_trc`: OpenSim marker files from 3D keypoints
- `write_smpl_npz`: body-model fits as ``.npz`` (AMASS's and smplx's layouts)

Every 2D writer moves coordinates from this project's pixel-corner origin to the pixel-centre origin those tools
use (`PIXEL_CENTRE_SHIFT`).
"""

from .coco import coco_dict, write_coco
from .dlc import dlc_table, read_dlc, write_dlc_csv, write_dlc_h5
from .nwb import write_nwb
from .result import PIXEL_CENTRE_SHIFT, ExportError, Result2D, from_pixel_centre, to_pixel_centre
from .smpl import smpl_npz_arrays, write_smpl_npz
from .trc import read_trc, write_trc

__all__ = [
    "PIXEL_CENTRE_SHIFT",
    "ExportError",
    "Result2D",
    "coco_dict",
    "dlc_table",
    "from_pixel_centre",
    "read_dlc",
    "read_trc",
    "smpl_npz_arrays",
    "to_pixel_centre",
    "write_coco",
    "write_dlc_csv",
    "write_dlc_h5",
    "write_nwb",
    "write_smpl_npz",
    "write_trc",
]
