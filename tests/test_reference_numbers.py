"""The engine holds to its reference numbers: every preset and trick config logs bit-for-bit what it logged when
they were recorded (tests/reference_numbers.py, at the commit before the engine's reshape for a second modality).

A refactoring of the engine must leave every logged value as it was; a change that means to alter numbers records
them again (`python tests/reference_numbers.py --write`) and says so in its commit.
"""

from __future__ import annotations

import json

import pytest
from reference_numbers import FILE, cases, run_case

RECORDED = json.loads(FILE.read_text())


def test_the_recorded_cases_are_the_cases_of_today():
    assert sorted(RECORDED) == sorted(cases())


@pytest.mark.parametrize("name", sorted(cases()))
def test_same_seed_same_numbers_bit_for_bit(name):
    got, want = run_case(*cases()[name]), RECORDED[name]
    assert (got["status"], got["step"]) == (want["status"], want["step"])
    assert sorted(got["values"]) == sorted(want["values"]), name
    for key, series in want["values"].items():
        assert got["values"][key] == series, f"{name}: {key} differs from the recorded numbers"
    assert got["tags"] == want["tags"]
