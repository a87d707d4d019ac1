"""What the two answer-shape test files share: a module's chat server, shared model files and kernel, and the
one assertion (tests/answer_corpus.py plays the case and says what fell short)."""
from __future__ import annotations

from typing import Iterator

import pytest

from answer_corpus import Case, Player, shared_models, shortfalls
from openai_server import ChatServer


def player_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Player]:
    """One kernel per test file (TensorFlow is imported once), answering from its own loopback chat server."""
    server = ChatServer().start()
    models = shared_models(tmp_path_factory.mktemp("corpus_models"))
    player = Player(server, models, tmp_path_factory.mktemp("corpus_work"))
    try:
        yield player
    finally:
        player.close()
        server.stop()


def play_and_check(player: Player, case: Case, index: int) -> None:
    """Streaming and not alternate across the corpus, so each shape's neighbours cover the other path."""
    stream = index % 2 == 0
    outcome = player.play(case, stream=stream)
    missing = shortfalls(case, outcome)
    assert not missing, f"{case.name} ({case.shape}; {'streamed' if stream else 'not streamed'}): " + "; ".join(missing)
