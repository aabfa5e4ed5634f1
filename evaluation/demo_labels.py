"""The demo graph's evaluation labels: which achievements each demo need was written to be answered by, and which
demo needs were written to have no good supply.

The demo data itself lives in ``graph/data/demo/`` (loaded by :mod:`graph.demo`); these labels are kept here, apart
from the product, as every other judged set is: ``benchmarks/demo_matches.py`` and the tests read them to check the
demo data and the engine together. Ids are demo need and achievement ids (``need-NN``, ``ach-NN``).
"""

from __future__ import annotations

#: the achievements each demo need was written to be answered by (any of them counts); for sanity checks of matching
INTENDED_MATCHES: dict[str, tuple[str, ...]] = {
    "need-01": ("ach-01",), "need-02": ("ach-25", "ach-26"), "need-09": ("ach-06",), "need-10": ("ach-07",),
    "need-11": ("ach-09",), "need-12": ("ach-13",), "need-13": ("ach-20", "ach-21"), "need-14": ("ach-22",),
    "need-15": ("ach-18",), "need-16": ("ach-24",), "need-17": ("ach-23",), "need-18": ("ach-27",),
    "need-19": ("ach-33",), "need-20": ("ach-30",), "need-21": ("ach-38", "ach-37"), "need-22": ("ach-39",),
    "need-23": ("ach-41",), "need-24": ("ach-45",), "need-25": ("ach-47",), "need-26": ("ach-48",),
    "need-27": ("ach-50",), "need-28": ("ach-52",), "need-29": ("ach-55",), "need-30": ("ach-57",),
    "need-31": ("ach-56",), "need-32": ("ach-61",), "need-33": ("ach-62",), "need-34": ("ach-67",),
    "need-35": ("ach-69",), "need-36": ("ach-70",), "need-38": ("ach-63",), "need-39": ("ach-26",),
}

#: demo needs written to have no good supply in the demo: the gap map's and match_need's gaps
GAP_NEEDS: tuple[str, ...] = ("need-03", "need-04", "need-05", "need-06", "need-07", "need-08")
