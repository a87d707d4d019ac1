"""How many of the corpus answers (tests/llm_answers: the shapes real models give) end as they should, per stage.

Run: .venv/bin/python bench/bench_answer_shapes.py [--verbose]

Every case is played as tests/test_answer_shapes_*.py play it (tests/answer_corpus.py: the loopback chat server,
a real kernel with the extension, the inserted cell run there; for deploy the written sketch built for the virtual
board with TFLite Micro and compile-checked for the Nano 33 BLE Sense), streaming and not alternately. A case
"ends well" when it ends as its file says: Python code that runs, a sketch that builds on both, or the named line.
Goals (issue 11): 100% of the answers in the contract form, 95% overall. Rounds count the model's answers
(continuations and repairs included); tokens are prompt + completion from the usage lines the magic prints;
s/case is the magic, the inserted cell and the builds (not the givens).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from answer_corpus import STAGES, Case, Outcome, Player, cases, shared_models, shortfalls  # noqa: E402
from openai_server import ChatServer  # noqa: E402
from prerequisites import SHARED_TFLM_LIBRARY  # noqa: E402

GOAL_CONTRACT, GOAL_OVERALL = 1.0, 0.95


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} {part / whole:6.1%}" if whole else "-"


def ends_well(case: Case, outcome: Outcome, boards: tuple[str, ...] = ("virtual", "nano")) -> bool:
    return not shortfalls(case, outcome, boards=boards)


def builds_on(case: Case, outcome: Outcome, board: str) -> bool:
    """A deploy case that must build, built for `board` (virtual or nano) with what the case asks of the sketch."""
    return ends_well(case, outcome, boards=(board,))


def main() -> None:
    verbose = "--verbose" in sys.argv
    if (SHARED_TFLM_LIBRARY / "library.properties").is_file():
        os.environ.setdefault("TINYML_TFLM_LIBRARY", str(SHARED_TFLM_LIBRARY))
    corpus = cases()
    work = Path(tempfile.mkdtemp(prefix="bench-answer-shapes-"))
    server = ChatServer().start()
    started = time.perf_counter()
    player = Player(server, shared_models(work / "models"), work / "cases", link_all=True)
    played: list[tuple[Case, Outcome]] = []
    try:
        for index, case in enumerate(corpus):
            played.append((case, player.play(case, stream=index % 2 == 0)))
    finally:
        player.close()
        server.stop()
    elapsed = time.perf_counter() - started

    print(f"Corpus answers played through the loopback server and a real kernel: {len(corpus)} cases, {elapsed:.0f} s")
    header = f"{'stage':<9}{'cases':>6}  {'ends well':>13}  {'runs/builds':>13}  {'virtual':>13}  {'nano33ble':>13}"
    print(header + f"  {'rounds':>6}  {'tokens':>7}  {'s/case':>6}")
    groups: dict[str, list[tuple[Case, Outcome]]] = defaultdict(list)
    for case, outcome in played:
        groups[case.stage].append((case, outcome))
    for name, group in [(stage, groups[stage]) for stage in STAGES] + [("all", played)]:
        good = sum(ends_well(case, outcome) for case, outcome in group)
        producing = [(c, o) for c, o in group if c.expect != "error"]
        produced = sum(ends_well(c, o) for c, o in producing)
        deploy = [(c, o) for c, o in group if c.expect == "builds"]
        virtual = share(sum(builds_on(c, o, "virtual") for c, o in deploy), len(deploy))
        nano = share(sum(builds_on(c, o, "nano") for c, o in deploy), len(deploy))
        rounds = sum(o.rounds for _, o in group) / len(group)
        tokens = sum(o.tokens for _, o in group) / len(group)
        seconds = sum(sum(o.seconds.values()) for _, o in group) / len(group)
        print(f"{name:<9}{len(group):>6}  {share(good, len(group)):>13}  {share(produced, len(producing)):>13}  "
              f"{virtual:>13}  {nano:>13}  {rounds:>6.2f}  {tokens:>7.0f}  {seconds:>6.1f}")
    contract = [(c, o) for c, o in played if c.contract]
    contract_good = sum(ends_well(c, o) for c, o in contract)
    overall_good = sum(ends_well(c, o) for c, o in played)
    print(f"contract form: {share(contract_good, len(contract))} (goal {GOAL_CONTRACT:.0%}); "
          f"overall: {share(overall_good, len(played))} (goal {GOAL_OVERALL:.0%})")
    failing = [(c, o) for c, o in played if not ends_well(c, o)]
    if failing:
        print("\nCases that did not end well:")
        for case, outcome in failing:
            reasons = "; ".join(shortfalls(case, outcome))
            print(f"  {case.name}: {reasons if verbose else reasons[:160]}")


if __name__ == "__main__":
    main()
