"""The engine holds to its reference numbers: every preset and trick config logs bit-for-bit what it logged when
they were recorded (tests/reference_numbers.py: first at the commit before the engine's reshape for a second
modality; one record per machine, since the last bits depend on the processor).

A refactoring of the engine must leave every logged value as it was; a change that means to alter numbers records
them again (`python tests/reference_numbers.py --write`) and says so in its commit.
"""

from __future__ import annotations

import pytest
from reference_numbers import cases, machine, recorded, run_case

RECORDS = recorded()
RECORDED = RECORDS.get(machine(), {}).get("cases", {})


def test_this_machine_has_a_record_and_it_holds_the_cases_of_today():
    assert RECORDED, (f"no reference numbers for this machine ({machine()}; recorded: {', '.join(RECORDS)}): record "
                      "them with the engine of the last commit that passed (tests/reference_numbers.py says how)")
    assert sorted(RECORDED) == sorted(cases())


@pytest.mark.parametrize("name", sorted(cases()))
def test_same_seed_same_numbers_bit_for_bit(name):
    if name not in RECORDED:
        pytest.fail(f"{name}: not recorded for this machine ({machine()})")
    got, want = run_case(*cases()[name]), RECORDED[name]
    assert (got["status"], got["step"]) == (want["status"], want["step"])
    assert sorted(got["values"]) == sorted(want["values"]), name
    for key, series in want["values"].items():
        assert got["values"][key] == series, f"{name}: {key} differs from the recorded numbers"
    assert got["tags"] == want["tags"]
