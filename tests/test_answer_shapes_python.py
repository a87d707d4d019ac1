"""The Python stages take answers as models give them (issue 11): each corpus case of prep, train, convert and fix,
played through the loopback chat server and a real kernel, ends as inserted code that runs there.

The corpus (tests/llm_answers) holds prose + fence + explanation, two fences, expected-output fences (tagged and
untagged), untagged code, cut answers and their continuations, a prose-only answer, repairs; see its files.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterator

import pytest

from answer_corpus import STAGES, Case, Player, cases
from answer_shapes_play import play_and_check, player_for

PYTHON_CASES = cases("prep", "train", "convert", "fix")


@pytest.fixture(scope="module")
def player(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Player]:
    yield from player_for(tmp_path_factory)


def test_the_corpus_covers_every_stage_and_shape() -> None:
    """At least 48 answers across the five stages, with the shapes issue 11 lists, each in a well-formed file."""
    corpus = cases()
    by_stage = Counter(case.stage for case in corpus)
    assert len(corpus) >= 48 and all(by_stage[stage] >= 8 for stage in STAGES), by_stage
    texts = [r.text for case in corpus for r in case.rounds]
    assert sum(r.finish_reason == "length" for case in corpus for r in case.rounds) >= 4
    assert any("```arduino" in text for text in texts) and any("```cpp app-" in text for text in texts)
    assert any("### app-loop" in text for text in texts) and any("**Setup:**" in text for text in texts)
    assert any("### Explanation" in text for text in texts) and any("```text" in text for text in texts)
    assert sum(case.contract for case in corpus) >= 10 and any(case.expect == "error" for case in corpus)
    assert max(len(case.rounds) for case in corpus) == 3


@pytest.mark.parametrize("case", PYTHON_CASES, ids=[case.name for case in PYTHON_CASES])
def test_a_python_answer_ends_as_code_that_runs(player: Player, case: Case) -> None:
    play_and_check(player, case, PYTHON_CASES.index(case))
