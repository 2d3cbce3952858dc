"""minidl.geometry: the output-size formula.
"""
from __future__ import annotations

import pytest
import minidl.functional as F


def test_output_size_formula():
    assert F.conv_output_size(7, 3, 1, 0) == 5       # the lecture's 7x7 input, 3x3 filter
    assert F.conv_output_size(7, 3, 2, 0) == 3
    assert F.conv_output_size(7, 3, 3, 0) == 2       # floor((7 - 3) / 3) + 1
    assert F.conv_output_size(32, 5, 1, 2) == 32     # padding (F - 1) / 2 keeps the size
    assert F.conv_output_size(10, 3, 1, 0, dilation=2) == 6
    assert F.conv_output_size((7, 9), 3, (1, 2), 1) == (7, 5)
    with pytest.raises(ValueError, match="input 5 with kernel 7, padding 0, stride 1 gives an empty output"):
        F.conv_output_size(5, 7)
