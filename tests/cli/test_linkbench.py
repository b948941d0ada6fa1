"""``python -m sw.linkbench``: UART bytes and images per second of the pixel window and the
compact input, counted from the batches sw.run sends."""

import json

import numpy as np

from core import modelfile
from core.randnet import random_network


def test_linkbench_counts_both_formats(run_cli, fails_cleanly, tmp_path):
    network = random_network(np.random.default_rng(4), max_inputs=64, max_neurons=12,
                             encoders=("hybrid",))
    model = tmp_path / "net.snn"
    modelfile.save(network, model)
    report = tmp_path / "link.json"
    result = run_cli("sw.linkbench", "--model", model, "--data", "random", "--samples", 20,
                     "--json", report)
    assert result.returncode == 0, result.stderr
    assert "pixel window" in result.stdout and "compact input + queue" in result.stdout
    data = json.loads(report.read_text())
    plain, compact = (data["formats"][k] for k in ("pixel window", "compact input + queue"))
    # The pixel window: the words of the padded image, CLEAR, START, a STATUS read, the
    # results; the compact input: the nonzero pixels, two to a word, START, the same reads.
    rows = -(-network.n_inputs // 8) * 8 // 4
    reads = 3 * 6 + 6
    assert plain["request"] == 6 + 4 * rows + 2 * 10 + 6 + reads
    assert compact["request"] < plain["request"]
    assert plain["answer"] == compact["answer"] == 4 * (1 + 3 * network.n_classes + 2)
    rate = plain["images_per_s"]["12000000"]
    busier = max(plain["request"], plain["answer"])      # full duplex: the busier direction
    assert rate == min(12e6 / 10 / busier, data["compute_images_per_s"])
    fails_cleanly(run_cli("sw.linkbench", "--model", tmp_path / "none.snn"), "none.snn")
    fails_cleanly(run_cli("sw.linkbench", "--model", model, "--pcie-stream", "--pause", "1.5"),
                  "--pause must be in [0, 1), not 1.5")
