"""CIEDE2000 against the published test data of Sharma, Wu & Dalal (2005), Table 1."""
from __future__ import annotations

import numpy as np
import pytest

from inference.colourlock.delta_e import delta_e_2000, srgb_to_lab

# (pair, Lab1, Lab2, expected dE00) from Sharma, Wu & Dalal, Color Res. Appl. 30(1), 2005.
SHARMA_PAIRS = [
    (1, (50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    (2, (50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    (3, (50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    (4, (50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    (7, (50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    (9, (50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0009), 7.1792),
    (11, (50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0011), 7.2195),
    (13, (50.0000, -0.0010, 2.4900), (50.0000, 0.0009, -2.4900), 4.8045),
    (15, (50.0000, -0.0010, 2.4900), (50.0000, 0.0011, -2.4900), 4.7461),
    (16, (50.0000, 2.5000, 0.0000), (50.0000, 0.0000, -2.5000), 4.3065),
    (17, (50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    (19, (50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    (22, (50.0000, 2.5000, 0.0000), (50.0000, 3.2972, 0.0000), 1.0000),
    (25, (60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    (27, (61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    (29, (22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    (31, (90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    (33, (6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    (34, (2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize("pair,lab1,lab2,expected", SHARMA_PAIRS, ids=[f"pair{p[0]}" for p in SHARMA_PAIRS])
def test_sharma_pair(pair, lab1, lab2, expected):
    assert delta_e_2000(lab1, lab2) == pytest.approx(expected, abs=5e-5)
    # CIEDE2000 is symmetric in its two arguments.
    assert delta_e_2000(lab2, lab1) == pytest.approx(expected, abs=5e-5)


def test_vectorised_over_pairs():
    lab1 = np.array([p[1] for p in SHARMA_PAIRS])
    lab2 = np.array([p[2] for p in SHARMA_PAIRS])
    np.testing.assert_allclose(delta_e_2000(lab1, lab2), [p[3] for p in SHARMA_PAIRS], atol=5e-5)


def test_srgb_to_lab_known_values():
    lab = srgb_to_lab(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32))
    np.testing.assert_allclose(lab[0], [100.0, 0.0, 0.0], atol=0.05)
    np.testing.assert_allclose(lab[1], [53.24, 80.09, 67.20], atol=0.1)  # sRGB red, D65
    np.testing.assert_allclose(lab[2], [0.0, 0.0, 0.0], atol=0.05)
    # The same colour given in linear light gives the same Lab.
    lin = srgb_to_lab(np.array([[0.2140, 0.2140, 0.2140]], np.float32), "Linear Rec.709 (sRGB)")
    mid = srgb_to_lab(np.array([[0.5, 0.5, 0.5]], np.float32))
    np.testing.assert_allclose(lin, mid, atol=0.05)
    assert srgb_to_lab(np.zeros((4, 5, 3), np.float32)).shape == (4, 5, 3)
