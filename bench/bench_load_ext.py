"""`%load_ext jupyter_tinyml` in a fresh kernel: wall time, and which heavy modules it pulled in.

Printed against an empty cell in the same kernel (machines here are noisy: a ratio from one run).
Goal: under 150 ms, and neither litellm nor tensorflow in sys.modules afterwards.
"""
from __future__ import annotations

import time

from jupyter_client.manager import start_new_kernel


def timed(client, code: str) -> tuple[float, str]:
    started = time.perf_counter()
    reply = client.execute_interactive(code, store_history=False, timeout=120, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - started
    assert reply["content"]["status"] == "ok", reply["content"]
    return elapsed, ""


def main() -> None:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        empty, _ = timed(client, "pass")
        load, _ = timed(client, "%load_ext jupyter_tinyml")
        outputs: list[str] = []
        client.execute_interactive(
            "import sys; print(sorted(m for m in ('litellm', 'tensorflow', 'keras') if m in sys.modules))",
            output_hook=lambda msg: outputs.append(msg["content"].get("text", "")),
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    heavy = "".join(outputs).strip()
    print(
        f"%load_ext jupyter_tinyml: {load * 1000:.0f} ms vs empty cell {empty * 1000:.0f} ms "
        f"(ratio {load / empty:.1f}); goal < 150 ms -> {load * 1000 / 150:.2f} of the goal; "
        f"heavy modules loaded: {heavy}"
    )


if __name__ == "__main__":
    main()
