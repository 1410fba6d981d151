#!/usr/bin/env bash
# Deploys the gateway + inference worker pair to Cloud Run from images already on Docker Hub.
#
#   deploy/cloudrun/deploy.sh PROJECT REGION IMAGE_TAG
#
# IMAGE_TAG is a tag CI pushed: sha-<full commit SHA> (every push) or a release version (git tag vX.Y.Z). Other settings (environment, with defaults):
# IMAGE_NAMESPACE (Docker Hub namespace, airparadis), SERVICE_NAME (air-paradis-api), MAX_INSTANCES (4),
# VPC_NETWORK / VPC_SUBNETWORK (default / default: where Memorystore is reachable),
# RUNTIME_SERVICE_ACCOUNT (air-paradis-run@PROJECT.iam.gserviceaccount.com: reads the secrets),
# ALLOW_UNAUTHENTICATED (1: the API checks its own X-API-Key; 0 leaves invocation to IAM).
# Secrets (Secret Manager, created once by the owner): air-paradis-redis-url, air-paradis-mlflow-uri,
# air-paradis-mlflow-username, air-paradis-mlflow-password, air-paradis-analyst-api-key, air-paradis-admin-api-key,
# air-paradis-model-signing-key (the MODEL_SIGNING_KEY of the training workers that register the models).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 PROJECT REGION IMAGE_TAG" >&2
  exit 2
fi
export PROJECT=$1 REGION=$2 IMAGE_TAG=$3
export IMAGE_NAMESPACE=${IMAGE_NAMESPACE:-airparadis}
export SERVICE_NAME=${SERVICE_NAME:-air-paradis-api}
export MAX_INSTANCES=${MAX_INSTANCES:-4}
export VPC_NETWORK=${VPC_NETWORK:-default} VPC_SUBNETWORK=${VPC_SUBNETWORK:-default}
export RUNTIME_SERVICE_ACCOUNT=${RUNTIME_SERVICE_ACCOUNT:-air-paradis-run@$PROJECT.iam.gserviceaccount.com}
# Knative labels allow [a-z0-9-_.] up to 63 characters.
export IMAGE_LABEL; IMAGE_LABEL=$(echo "$IMAGE_TAG" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_.\n-' '-' | cut -c1-63)

here=$(cd "$(dirname "$0")" && pwd)
manifest=$(mktemp --suffix=.yaml)
trap 'rm -f "$manifest"' EXIT
# Only the placeholders named here are replaced: anything else in the file stays as written.
python3 - "$here/service.yaml" "$manifest" <<'PY'
import os, re, sys
names = ["SERVICE_NAME", "REGION", "IMAGE_LABEL", "MAX_INSTANCES", "VPC_NETWORK", "VPC_SUBNETWORK",
         "RUNTIME_SERVICE_ACCOUNT", "IMAGE_NAMESPACE", "IMAGE_TAG"]
text = open(sys.argv[1]).read()
text = re.sub(r"\$\{(" + "|".join(names) + r")\}", lambda m: os.environ[m.group(1)], text)
left = re.findall(r"\$\{[A-Z_]+\}", text)
if left:
    sys.exit(f"unfilled placeholders in service.yaml: {sorted(set(left))}")
open(sys.argv[2], "w").write(text)
PY

echo "deploying $SERVICE_NAME to $PROJECT/$REGION with images :$IMAGE_TAG from docker.io/$IMAGE_NAMESPACE"
gcloud run services replace "$manifest" --project "$PROJECT" --region "$REGION" --quiet
if [ "${ALLOW_UNAUTHENTICATED:-1}" = 1 ]; then
  gcloud run services add-iam-policy-binding "$SERVICE_NAME" --project "$PROJECT" --region "$REGION" \
    --member allUsers --role roles/run.invoker --quiet >/dev/null
fi
url=$(gcloud run services describe "$SERVICE_NAME" --project "$PROJECT" --region "$REGION" --format 'value(status.url)')
# `replace` returns once the new revision passed its startup probe (/ready); check it from outside as well.
for _ in $(seq 1 30); do
  if curl -fsS --max-time 10 "$url/ready" >/dev/null; then
    echo "ready: $url"
    exit 0
  fi
  sleep 10
done
echo "deployed, but $url/ready did not answer 200 within 5 minutes" >&2
exit 1
