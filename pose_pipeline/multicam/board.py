"""A calibration board: a ChArUco board or a plain checkerboard, its geometry and (ChArUco) dictionary."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BOARD_KINDS = ("charuco", "checkerboard")


@dataclass(frozen=True)
class BoardSpec:
    """A board of ``squares_x`` by ``squares_y`` squares of side ``square_length`` metres. ``kind`` ``charuco``:
    ArUco markers of side ``marker_length`` from the ``marker_bits`` x ``marker_bits``, ``dict_size`` dictionary in
    the white squares (found when partly visible). ``checkerboard``: black and white squares only, found only when
    every one of its (squares_x - 1) x (squares_y - 1) inner corners is visible; ``marker_length`` and the
    dictionary are not used. Give a checkerboard an odd number of squares one way and an even number the other
    (e.g. 6 x 7), so that it does not look the same turned half a turn."""

    squares_x: int = 5
    squares_y: int = 7
    square_length: float = 0.08
    marker_length: float = 0.06
    marker_bits: int = 4
    dict_size: int = 50
    kind: str = "charuco"

    def __post_init__(self):
        if self.kind not in BOARD_KINDS:
            raise ValueError(f"unknown board kind {self.kind!r}; one of {', '.join(BOARD_KINDS)}")

    @property
    def inner_corners(self) -> tuple[int, int]:
        return self.squares_x - 1, self.squares_y - 1

    def opencv_board(self):
        """OpenCV's ChArUco board (ChArUco boards only)."""
        if self.kind != "charuco":
            raise ValueError(f"a {self.kind} has no ChArUco board")
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, f"DICT_{self.marker_bits}X{self.marker_bits}_"
                                                                          f"{self.dict_size}"))  # fmt: skip
        return cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_length, self.marker_length,
                                      dictionary)  # fmt: skip

    def image(self, pixels_per_metre: float) -> np.ndarray:
        """The board as a grey image, its squares' top-left corner at pixel (0, 0): ChArUco as OpenCV draws it;
        a checkerboard with the top-left square black, and a white margin of half a square on every side (the
        detector needs light around the outer squares)."""
        side = self.square_length * pixels_per_metre
        if self.kind == "charuco":
            size = (round(self.squares_x * side), round(self.squares_y * side))
            return self.opencv_board().generateImage(size, marginSize=0, borderBits=1)
        margin = round(side / 2)
        height, width = round(self.squares_y * side) + 2 * margin, round(self.squares_x * side) + 2 * margin
        rows, columns = np.mgrid[0:height, 0:width]
        inside = (rows >= margin) & (rows < height - margin) & (columns >= margin) & (columns < width - margin)
        dark = ((np.floor((rows - margin) / side) + np.floor((columns - margin) / side)) % 2 == 0) & inside
        return np.where(dark, 0, 255).astype(np.uint8)

    @property
    def image_offset_m(self) -> float:
        """Metres from the image's top-left corner to the squares' (the checkerboard's margin)."""
        return 0.0 if self.kind == "charuco" else self.square_length / 2
