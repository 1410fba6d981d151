"""Names of the Redis keys services share, in one place so that writer and reader cannot drift apart."""

from __future__ import annotations

PREDICTION_PREFIX = "prediction:"
FEEDBACK_BY_PREDICTION_PREFIX = "feedback:by-prediction:"
FEEDBACK_CORRECTIONS = "feedback:corrections"  # hash prediction_id -> JSON {text, label}: retraining input
TRAINING_JOB_PREFIX = "training:job:"
TRAINING_JOBS_INDEX = "training:jobs"  # sorted set job_id -> created timestamp
TRAINING_JOBS_ACTIVE = "training:jobs:active"  # set of the ids of jobs queued or running
INFERENCE_WORKER_HEARTBEAT_PREFIX = "inference:worker:"
# sorted set worker_id -> last heartbeat time: finds live workers without SCANning a keyspace full of predictions
INFERENCE_WORKERS_INDEX = "inference:workers"
# Prediction calls: gateway processes XADD them, inference workers read them as one consumer group (at-least-once:
# an entry a dead worker read but never acknowledged is claimed by a live one) and PUBLISH each reply on the
# channel of the gateway process that waits for it, keeping a copy under `inference:reply:<call id>` meanwhile.
PREDICT_CALLS_STREAM = "inference:calls"
PREDICT_CALLS_GROUP = "inference-workers"
PREDICT_REPLY_CHANNEL_PREFIX = "inference:replies:"
PREDICT_REPLY_PREFIX = "inference:reply:"
# The prediction log's stream: inference workers XADD each read's answered predictions (field `predictions`, a JSON
# list), the gateway each feedback verdict (field `feedback`); the log writer reads it as one consumer group, writes
# the database, then XACKs and XDELs what it committed.
PREDICTION_LOG_STREAM = "prediction-log:entries"
PREDICTION_LOG_GROUP = "log-writers"
ALERT_REPORTS_INDEX = "alerts:reports"  # sorted set report_id -> created timestamp
ALERT_REPORT_PREFIX = "alerts:report:"


def prediction(prediction_id: str) -> str:
    return PREDICTION_PREFIX + prediction_id


def feedback_by_prediction(prediction_id: str) -> str:
    return FEEDBACK_BY_PREDICTION_PREFIX + prediction_id


def training_job(job_id: str) -> str:
    return TRAINING_JOB_PREFIX + job_id


def inference_worker_heartbeat(worker_id: str) -> str:
    return INFERENCE_WORKER_HEARTBEAT_PREFIX + worker_id


def predict_reply_channel(gateway_id: str) -> str:
    return PREDICT_REPLY_CHANNEL_PREFIX + gateway_id


def predict_reply(call_id: str) -> str:
    return PREDICT_REPLY_PREFIX + call_id


def alert_report(report_id: str) -> str:
    return ALERT_REPORT_PREFIX + report_id


ALERT_REPORTS_UNSENT = "alerts:reports:unsent"  # set of report ids not yet sent: what a restart resends
ALERTING_HEARTBEAT = "alerting:heartbeat"  # JSON AlertingStatus, expires when the alerting process stops

TRAINING_JOB_LEASE_PREFIX = "training:job-lease:"  # worker id holding a running job; expires when that worker dies
TRAINING_RECOVERY_LOCK = "training:recovery-lock"  # one training worker at a time re-queues orphaned jobs


def training_job_lease(job_id: str) -> str:
    return TRAINING_JOB_LEASE_PREFIX + job_id


# The retraining policy (shared/retraining_policy.py): an admin's pause, the last automatic job, the corrections it
# already counted, and the slot that holds the rate limit.
RETRAINING_PAUSE = "retraining:pause"  # JSON PolicyPause
RETRAINING_LAST_JOB = "retraining:last-automatic-job"  # JSON AutomaticJob
RETRAINING_COUNTED_CORRECTIONS = "retraining:counted-corrections"  # set of prediction ids
RETRAINING_SLOT = "retraining:slot"  # report id, expires when the next automatic job may be queued

# Shadow scoring of a challenger (shared/shadow_stats.py): per challenger version, a hash of counters and two capped
# lists of model-call times; per shadow-scored prediction, both models' labels, kept as long as the prediction.
SHADOW_STATS_PREFIX = "shadow:stats:"
SHADOW_LATENCY_PREFIX = "shadow:latency:"
SHADOW_PREDICTION_PREFIX = "shadow:prediction:"
MODEL_LIFECYCLE_LOCK_PREFIX = "models:lifecycle-lock:"  # one alias move of a model at a time


def shadow_stats(model_name: str, challenger_version: str) -> str:
    return f"{SHADOW_STATS_PREFIX}{model_name}:{challenger_version}"


def shadow_latency(model_name: str, challenger_version: str, role: str) -> str:
    return f"{SHADOW_LATENCY_PREFIX}{model_name}:{challenger_version}:{role}"


def shadow_prediction(prediction_id: str) -> str:
    return SHADOW_PREDICTION_PREFIX + prediction_id


def model_lifecycle_lock(model_name: str) -> str:
    return MODEL_LIFECYCLE_LOCK_PREFIX + model_name


INFERENCE_DRIFT_PREFIX = "inference:drift:"  # JSON WorkerDrift of one process, expires with its heartbeat
DRIFT_REPORT_PREFIX = "alerts:drift-report:"
DRIFT_REPORTS_INDEX = "alerts:drift-reports"  # sorted set report_id -> created timestamp
DRIFT_REPORTS_UNSENT = "alerts:drift-reports:unsent"
DRIFT_REPORT_COOLDOWN_PREFIX = "alerts:drift-cooldown:"  # one per model version, expires with the cooldown


def inference_drift(worker_id: str) -> str:
    return INFERENCE_DRIFT_PREFIX + worker_id


def drift_report_cooldown(model_name: str, model_version: str) -> str:
    return f"{DRIFT_REPORT_COOLDOWN_PREFIX}{model_name}:{model_version}"
