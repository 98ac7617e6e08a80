"""A ChArUco calibration board: its geometry and dictionary."""

from __future__ import annotations

from dataclasses import dataclass

import cv2


@dataclass(frozen=True)
class BoardSpec:
    """A ChArUco board: squares across and down, square and marker side in metres, ArUco dictionary."""

    squares_x: int = 5
    squares_y: int = 7
    square_length: float = 0.08
    marker_length: float = 0.06
    marker_bits: int = 4
    dict_size: int = 50

    def opencv_board(self):
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, f"DICT_{self.marker_bits}X{self.marker_bits}_"
                                                                          f"{self.dict_size}"))  # fmt: skip
        return cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_length, self.marker_length,
                                      dictionary)  # fmt: skip
