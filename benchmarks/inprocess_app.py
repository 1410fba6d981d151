"""What a user would write instead of this system: FastAPI with the registered ONNX model in the same process.

    .venv/bin/python benchmarks/inprocess_app.py --model-uri models:/air-paradis-lstm/1 --port 8080

Raw text in, the model's own preprocessing and encoder, then ONNX Runtime, in the request handler: no queue, no
coalescing, one process. The handler is `async` and calls the model directly, the fastest simple choice for a
sub-millisecond model (a sync handler would add a thread hop per request). The serving benchmark runs it as a peer.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from inference_worker.model_store import download_serving_files
from sentiment_model.lstm import LstmScorer, load_verified_lstm


class Tweet(BaseModel):
    text: str


class Answer(BaseModel):
    label: str
    probability_positive: float


def load_model(tracking_uri: str, model_uri: str, signing_key: str) -> LstmScorer:
    name, version = model_uri.removeprefix("models:/").rsplit("/", 1)
    with tempfile.TemporaryDirectory() as folder:
        download_serving_files(tracking_uri, name, version, Path(folder), signing_key)
        scorer, _manifest = load_verified_lstm(Path(folder), signing_key)
    return scorer


def create_app(scorer: LstmScorer) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(tweet: Tweet) -> Answer:
        probability = float(scorer.predict_proba([tweet.text])[0])
        return Answer(label=scorer.label_of(probability), probability_positive=probability)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", required=True, help="models:/<name>/<version>")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    scorer = load_model(os.environ["MLFLOW_TRACKING_URI"], args.model_uri, os.environ["MODEL_SIGNING_KEY"])
    uvicorn.run(
        create_app(scorer),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
