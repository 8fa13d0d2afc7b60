"""TESS and Kepler cadence quality flags and the named masking presets.

Every SPOC-style light curve carries a per-cadence ``QUALITY`` (Kepler:
``SAP_QUALITY``) integer whose bits flag known problems: attitude tweaks,
momentum dumps, stray light, cosmic rays, ...  A *bitmask* selects which of
those bits make a cadence unusable; :func:`good_cadences` keeps the cadences
that have none of the selected bits set.

The bit meanings follow the TESS Science Data Products Description Document
(EXP-TESS-ARC-ICD-0014, table 28) and the Kepler Archive Manual (KDMC-10008,
table 2.3).  The presets ``none``/``default``/``hard``/``hardest`` reproduce
lightkurve's ``TessQualityFlags`` and ``KeplerQualityFlags`` bitmasks exactly,
so a light curve masked here matches one masked by lightkurve.

Examples
--------
>>> import numpy as np
>>> quality_bitmask("default")
17087
>>> good_cadences(np.array([0, 32, 64, 4096]), "default").tolist()
[True, False, True, True]
>>> decode_flags(160)
['Desat', 'ManualExclude']
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Union

import numpy as np

from ..config import validate_choice
from ..errors import ConfigError

__all__ = [
    "TESS_FLAGS",
    "KEPLER_FLAGS",
    "TESS_FLAG_DESCRIPTIONS",
    "KEPLER_FLAG_DESCRIPTIONS",
    "PRESETS",
    "MISSIONS",
    "quality_bitmask",
    "good_cadences",
    "decode_flags",
]

#: TESS SPOC quality bits (name -> value).
TESS_FLAGS: Dict[str, int] = {
    "AttitudeTweak": 1,
    "SafeMode": 2,
    "CoarsePoint": 4,
    "EarthPoint": 8,
    "Argabrightening": 16,
    "Desat": 32,
    "ApertureCosmic": 64,
    "ManualExclude": 128,
    "Discontinuity": 256,
    "ImpulsiveOutlier": 512,
    "CollateralCosmic": 1024,
    "Straylight": 2048,  # set manually by MIT from visual inspection
    "Straylight2": 4096,  # set automatically by SPOC from background levels
    "PlanetSearchExclude": 8192,
    "BadCalibrationExclude": 16384,
    "InsufficientTargets": 32768,  # too few targets for error correction (s20+)
}

#: One-line descriptions of the TESS bits (value -> text).
TESS_FLAG_DESCRIPTIONS: Dict[int, str] = {
    1: "Attitude tweak",
    2: "Safe mode",
    4: "Coarse point",
    8: "Earth point",
    16: "Argabrightening",
    32: "Desaturation event (momentum dump)",
    64: "Cosmic ray in optimal aperture",
    128: "Manual exclude",
    256: "Discontinuity corrected",
    512: "Impulsive outlier",
    1024: "Cosmic ray in collateral data",
    2048: "Straylight",
    4096: "Straylight2",
    8192: "Planet search exclude",
    16384: "Bad calibration exclude",
    32768: "Insufficient targets for error correction exclude",
}

#: Kepler quality bits (name -> value).  Bit 2**9 = 512 is unused by Kepler.
KEPLER_FLAGS: Dict[str, int] = {
    "AttitudeTweak": 1,
    "SafeMode": 2,
    "CoarsePoint": 4,
    "EarthPoint": 8,
    "ZeroCrossing": 16,
    "Desat": 32,
    "Argabrightening": 64,
    "ApertureCosmic": 128,
    "ManualExclude": 256,
    "SensitivityDropout": 1024,
    "ImpulsiveOutlier": 2048,
    "ArgabrighteningOnCCD": 4096,
    "CollateralCosmic": 8192,
    "DetectorAnomaly": 16384,
    "NoFinePoint": 32768,
    "NoData": 65536,
    "RollingBandInAperture": 131072,
    "RollingBandInMask": 262144,
    "PossibleThrusterFiring": 524288,
    "ThrusterFiring": 1048576,
}

#: One-line descriptions of the Kepler bits (value -> text).
KEPLER_FLAG_DESCRIPTIONS: Dict[int, str] = {
    1: "Attitude tweak",
    2: "Safe mode",
    4: "Coarse point",
    8: "Earth point",
    16: "Zero crossing",
    32: "Desaturation event",
    64: "Argabrightening",
    128: "Cosmic ray in optimal aperture",
    256: "Manual exclude",
    1024: "Sudden sensitivity dropout",
    2048: "Impulsive outlier",
    4096: "Argabrightening on CCD",
    8192: "Cosmic ray in collateral data",
    16384: "Detector anomaly",
    32768: "No fine point",
    65536: "No data",
    131072: "Rolling band in optimal aperture",
    262144: "Rolling band in full mask",
    524288: "Possible thruster firing",
    1048576: "Thruster firing",
}


def _or(flags: Mapping[str, int], *names: str) -> int:
    out = 0
    for n in names:
        out |= flags[n]
    return out


_T = TESS_FLAGS
_TESS_DEFAULT = _or(
    _T,
    "AttitudeTweak",
    "SafeMode",
    "CoarsePoint",
    "EarthPoint",
    "Argabrightening",
    "Desat",
    "ManualExclude",
    "ImpulsiveOutlier",
    "BadCalibrationExclude",
)
_TESS_HARD = _TESS_DEFAULT | _or(
    _T, "ApertureCosmic", "CollateralCosmic", "Straylight", "Straylight2"
)
_TESS_HARDEST = 65535  # every bit of the lower 16 (lightkurve's choice)

_K = KEPLER_FLAGS
_KEPLER_DEFAULT = _or(
    _K,
    "AttitudeTweak",
    "SafeMode",
    "CoarsePoint",
    "EarthPoint",
    "Desat",
    "ManualExclude",
    "DetectorAnomaly",
    "NoData",
    "ThrusterFiring",
)
_KEPLER_HARD = _KEPLER_DEFAULT | _or(
    _K, "SensitivityDropout", "ApertureCosmic", "CollateralCosmic", "PossibleThrusterFiring"
)
_KEPLER_HARDEST = 2096639  # every defined Kepler bit (lightkurve's value)

#: Named bitmasks per mission: ``PRESETS[mission][preset] -> int``.
PRESETS: Dict[str, Dict[str, int]] = {
    "TESS": {"none": 0, "default": _TESS_DEFAULT, "hard": _TESS_HARD, "hardest": _TESS_HARDEST},
    "Kepler": {
        "none": 0,
        "default": _KEPLER_DEFAULT,
        "hard": _KEPLER_HARD,
        "hardest": _KEPLER_HARDEST,
    },
}

#: Missions with quality-flag definitions.
MISSIONS = tuple(PRESETS)

_FLAGS = {"TESS": TESS_FLAGS, "Kepler": KEPLER_FLAGS}
_MISSION_ALIASES = {"tess": "TESS", "kepler": "Kepler", "k2": "Kepler"}

def _mission(mission: str) -> str:
    key = _MISSION_ALIASES.get(str(mission).lower())
    if key is None:
        raise ConfigError(
            f"mission={mission!r} has no quality flags; choose one of: "
            f"{', '.join(map(repr, MISSIONS))}"
        )
    return key


def quality_bitmask(preset: Union[str, int] = "default", mission: str = "TESS") -> int:
    """Return the integer bitmask of a named quality preset.

    Parameters
    ----------
    preset : {'none', 'default', 'hard', 'hardest'} or int
        ``none`` keeps every cadence; ``default`` drops cadences that are
        certainly bad (pointing problems, momentum dumps, manual excludes,
        impulsive outliers ...); ``hard`` also drops cosmic-ray and stray-light
        cadences (removes some good data); ``hardest`` drops any flagged
        cadence.  A non-negative integer is returned unchanged (a custom mask).
    mission : {'TESS', 'Kepler'}
        Whose bit definitions to use (case-insensitive; ``'K2'`` means Kepler).

    Returns
    -------
    int
        The bitmask; a cadence is bad when ``quality & bitmask != 0``.

    Raises
    ------
    ConfigError
        Unknown preset or mission, or a negative integer mask.

    Examples
    --------
    >>> quality_bitmask("hard"), quality_bitmask("default", mission="Kepler")
    (24319, 1130799)
    """
    table = PRESETS[_mission(mission)]
    if isinstance(preset, (int, np.integer)) and not isinstance(preset, bool):
        if preset < 0:
            raise ConfigError(f"quality bitmask must be >= 0, got {preset}")
        return int(preset)
    validate_choice("quality_mask", preset, tuple(table))
    return table[preset]


def good_cadences(
    quality, preset: Union[str, int] = "default", mission: str = "TESS"
) -> np.ndarray:
    """Boolean mask of cadences to keep (``True`` = no selected bit is set).

    Parameters
    ----------
    quality : array_like of int
        Per-cadence quality flags (``QUALITY`` or Kepler ``SAP_QUALITY``).
    preset : str or int
        Named preset or integer bitmask, see :func:`quality_bitmask`.
    mission : {'TESS', 'Kepler'}
        Whose bit definitions to use.

    Returns
    -------
    ndarray of bool
        Same shape as ``quality``.

    Raises
    ------
    ConfigError
        Unknown preset or mission.
    """
    mask = quality_bitmask(preset, mission)
    q = np.asarray(quality)
    if q.dtype.kind not in "iub":
        q = q.astype(np.int64)
    if mask == 0:
        return np.ones(q.shape, dtype=bool)
    return (q & mask) == 0


def decode_flags(value: int, mission: str = "TESS") -> List[str]:
    """Names of the quality bits set in one cadence's flag value.

    Parameters
    ----------
    value : int
        One ``QUALITY`` value.
    mission : {'TESS', 'Kepler'}
        Whose bit definitions to use.

    Returns
    -------
    list of str
        Flag names in increasing bit order; bits without a defined meaning
        come back as ``'Bit<n>'`` (``n`` = zero-based bit index).

    Examples
    --------
    >>> decode_flags(1 + 32 + 2**20)
    ['AttitudeTweak', 'Desat', 'Bit20']
    """
    value = int(value)
    if value < 0:
        value &= 0xFFFFFFFF  # int32 column read as negative: use the raw bits
    names_by_value = {v: k for k, v in _FLAGS[_mission(mission)].items()}
    out: List[str] = []
    bit = 0
    while value >> bit:
        b = 1 << bit
        if value & b:
            out.append(names_by_value.get(b, f"Bit{bit}"))
        bit += 1
    return out
