"""Deploy takes answers as models give them (issue 11): each deploy case of the corpus — the `app` dict contract,
named C++ parts (comments, headings, bold labels, info strings), whole sketches in cpp and arduino fences, cut
sketches, prose only, repairs that fix one error at a time or empty the regions — played through the loopback chat
server and a real kernel, ends with a cell that writes a project whose sketch builds for the virtual board (TFLite
Micro) and passes the Nano 33 BLE Sense compile check; or, for a sensor library that is not installed, with the one
line that installs it.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from answer_corpus import Case, Player, cases
from answer_shapes_play import play_and_check, player_for
from prerequisites import require_arm_tools, require_tflm_library

DEPLOY_CASES = cases("deploy")


@pytest.fixture(scope="module")
def player(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Player]:
    require_arm_tools("arm-none-eabi-gcc", "arm-none-eabi-g++")
    require_tflm_library()
    yield from player_for(tmp_path_factory)


@pytest.mark.parametrize("case", DEPLOY_CASES, ids=[case.name for case in DEPLOY_CASES])
def test_a_deploy_answer_ends_as_a_project_that_builds(player: Player, case: Case) -> None:
    play_and_check(player, case, DEPLOY_CASES.index(case))
