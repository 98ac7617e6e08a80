"""DataJoint codecs of the pipeline, registered when the schema package is imported.

``<array>``: DataJoint's blob format without zlib. ``<blob>`` always compresses; on keypoint arrays that buys
8-15% of space for 100-160 ms per 2 MB (measured, ../shared/DESIGN.md), and for a long 3D result it was 40% of
``LiftingPerson.populate`` with the project's lifter (0.4 s of 2.0 s for 20,000 frames). Values read back exactly
as from ``<blob>`` (the reader recognises both), so a column can move between the two without conversion.
"""

from __future__ import annotations

from typing import Any

from datajoint.builtin_codecs.blob import BlobCodec


class ArrayCodec(BlobCodec):
    """``<array>``: a numpy array (or any blob-serialisable value) stored in the table, uncompressed."""

    name = "array"

    def encode(self, value: Any, *, key: dict | None = None, store_name: str | None = None) -> bytes:
        from datajoint import blob

        return blob.pack(value, compress=False)
