"""Preprocessing benchmark: the current `preprocess` vs the implementation it replaced, and the in-process floor at
batch 64 of the served LSTM format (preprocess + encode + ONNX Runtime), in one run.

    .venv/bin/python benchmarks/preprocessing.py            # the whole bundled corpus, 5 rounds
    .venv/bin/python benchmarks/preprocessing.py --quick    # 4,000 tweets, 3 rounds, a smaller floor run

The two implementations run interleaved over the same tweets, 500 at a time (which goes first alternating), so the
machine's drifting speed weighs on both alike; each ratio is taken within a round and the median reported.
Both are timed warm (each has its lemma cache filled by a first pass), as a serving process runs after its first
minutes. The reference implementation is the one the parity test keeps (tests/unit/test_preprocessing_parity.py).

The floor needs TensorFlow and tf2onnx (the training extra): an LSTM of the default training parameters is built
with random weights (the cost of a call does not depend on them), exported as training exports it, and served by
the worker's own `LstmScorer`. The encoder is fitted on the corpus itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sentiment_model.preprocessing import preprocess  # noqa: E402
from tests.unit.test_preprocessing_parity import reference_preprocess  # noqa: E402
from training_worker.datasets import bundled_corpus_path  # noqa: E402

BATCH = 64


def corpus_texts() -> list[str]:
    with bundled_corpus_path().open(encoding="latin-1", newline="") as handle:
        return [row.get("text") or "" for row in csv.DictReader(handle)]


def _seconds(function: Callable[[str], object], texts: Sequence[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        function(text)
    return time.perf_counter() - started


def compare_preprocessing(texts: list[str], rounds: int, chunk: int = 500) -> dict[str, float]:
    """Microseconds per tweet of each implementation (median over rounds) and the median per-round speed-up.

    Within a round the two alternate every `chunk` tweets (which one goes first alternating too), so that a change
    of the machine's speed during the round weighs on both."""
    for function in (reference_preprocess, preprocess):
        _seconds(function, texts)  # fills each one's lemma cache
    old_us, new_us, ratios = [], [], []
    for round_index in range(rounds):
        took = {reference_preprocess: 0.0, preprocess: 0.0}
        for chunk_index, start in enumerate(range(0, len(texts), chunk)):
            pair = (reference_preprocess, preprocess)
            for function in pair if (round_index + chunk_index) % 2 == 0 else reversed(pair):
                took[function] += _seconds(function, texts[start : start + chunk])
        old_us.append(took[reference_preprocess] / len(texts) * 1e6)
        new_us.append(took[preprocess] / len(texts) * 1e6)
        ratios.append(took[reference_preprocess] / took[preprocess])
        print(f"  round {round_index + 1}: old {old_us[-1]:.1f} us/tweet, new {new_us[-1]:.1f} us/tweet", flush=True)
    median = statistics.median
    return {"old_us": median(old_us), "new_us": median(new_us), "ratio": median(ratios)}


def build_scorer(texts: list[str]) -> object:
    """The served LSTM format of the default training parameters, built without training (random weights)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from sentiment_model.encoder import SequenceEncoder
    from sentiment_model.lstm import LstmScorer
    from shared.training_params import LstmParams
    from training_worker.families.lstm import build_model
    from training_worker.onnx_export import export_onnx

    params = LstmParams()
    encoder = SequenceEncoder.fit((preprocess(t) for t in texts), max_vocab=params.max_vocab, max_len=params.max_len)
    embedding = np.random.default_rng(0).normal(size=(encoder.vocab_size, params.embedding_dim)).astype(np.float32)
    model = build_model(encoder.vocab_size, embedding, params)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, path)
        return LstmScorer(encoder, path.read_bytes())


def floor_batch_64(scorer: object, texts: list[str], rounds: int) -> dict[str, float]:
    """p50 milliseconds of one batch of 64 raw tweets through the worker's scorer (current preprocessing), and
    through the reference preprocessing, the same encoder and a session of the same graph and options, interleaved
    batch by batch."""
    import onnxruntime as ort

    encoder = scorer.encoder  # type: ignore[attr-defined]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(scorer.onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    input_name = session.get_inputs()[0].name

    def with_reference(batch: list[str]) -> None:
        session.run(None, {input_name: encoder.encode_tokens([reference_preprocess(t) for t in batch])})

    def with_current(batch: list[str]) -> None:
        scorer.predict_proba(batch)  # type: ignore[attr-defined]

    batches = [texts[i : i + BATCH] for i in range(0, len(texts) - BATCH + 1, BATCH)]
    encoded = {id(batch): encoder.encode(batch) for batch in batches[:rounds]}

    def graph_only(batch: list[str]) -> None:  # the ONNX Runtime call alone, on ids encoded beforehand
        session.run(None, {input_name: encoded[id(batch)]})

    timings: dict[str, list[float]] = {"old": [], "new": [], "onnx": []}
    for index in range(rounds):
        batch = batches[index % len(batches)]
        pairs = [("old", with_reference), ("new", with_current), ("onnx", graph_only)]
        for name, run in pairs if index % 2 == 0 else reversed(pairs):
            started = time.perf_counter()
            run(batch)
            timings[name].append((time.perf_counter() - started) * 1000)
    return {f"{name}_p50_ms": statistics.median(values) for name, values in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,000 tweets, fewer rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-floor", action="store_true", help="skip the ONNX floor (needs the training extra)")
    args = parser.parse_args(argv)

    texts = corpus_texts()
    sample = texts[:4000] if args.quick else texts
    rounds = args.rounds or (3 if args.quick else 5)
    print(f"preprocessing {len(sample)} tweets of the bundled corpus, {rounds} interleaved rounds", flush=True)
    speed = compare_preprocessing(sample, rounds)
    rows = [
        "| measure | reference (before) | current | ratio |",
        "|---|---|---|---|",
        f"| preprocess, us/tweet (median of {rounds} rounds over {len(sample)} tweets) "
        f"| {speed['old_us']:.1f} | {speed['new_us']:.1f} | {speed['ratio']:.2f}x faster (median round) |",
    ]
    if not args.no_floor:
        print("building the served LSTM format (default training parameters, random weights) ...", flush=True)
        scorer = build_scorer(texts)
        scorer.predict_proba(texts[:BATCH])  # type: ignore[attr-defined]
        floor = floor_batch_64(scorer, texts, 60 if args.quick else 300)
        old_ms, new_ms, onnx_ms = floor["old_p50_ms"], floor["new_p50_ms"], floor["onnx_p50_ms"]
        old_rate, new_rate = BATCH / old_ms * 1000, BATCH / new_ms * 1000
        rows += [
            f"| floor, batch {BATCH}: preprocess + encode + ONNX Runtime, p50 ms "
            f"| {old_ms:.2f} | {new_ms:.2f} | {old_ms / new_ms:.2f}x |",
            f"| floor, batch {BATCH}, tweets/s (one process, one thread) "
            f"| {old_rate:,.0f} | {new_rate:,.0f} | {new_rate / old_rate:.2f}x |",
            f"| of which the ONNX Runtime call alone, p50 ms | {onnx_ms:.2f} | {onnx_ms:.2f} | |",
        ]
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
