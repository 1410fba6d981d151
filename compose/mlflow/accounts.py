"""Creates or updates MLflow's basic-auth accounts from the environment, before `mlflow server` starts.

The admin account (MLFLOW_AUTH_ADMIN_USERNAME / MLFLOW_AUTH_ADMIN_PASSWORD) registers versions and moves aliases:
only the training worker holds it. The read-only account (MLFLOW_READER_USERNAME / MLFLOW_READER_PASSWORD) is for
the services that only read the registry. MLflow itself only creates the admin on first start; running this on
every start makes compose/.env the one place a password is changed.
"""

from __future__ import annotations

import os
import sys

from mlflow.server.auth.config import read_auth_config
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore


def ensure_account(store: SqlAlchemyStore, username: str, password: str, is_admin: bool) -> str:
    if store.has_user(username, use_primary=True):
        store.update_user(username, password=password, is_admin=is_admin)
        return "updated"
    store.create_user(username, password, is_admin=is_admin)
    return "created"


def main() -> int:
    config = read_auth_config()
    reader = os.environ.get("MLFLOW_READER_USERNAME", "reader")
    reader_password = os.environ.get("MLFLOW_READER_PASSWORD", "")
    missing = [
        name
        for name, value in (
            ("MLFLOW_AUTH_ADMIN_USERNAME", config.admin_username),
            ("MLFLOW_AUTH_ADMIN_PASSWORD", config.admin_password),
            ("MLFLOW_READER_PASSWORD", reader_password),
        )
        if not value
    ]
    if missing:
        print(f"mlflow accounts: set {', '.join(missing)}", file=sys.stderr)
        return 1
    if reader == config.admin_username:
        print("mlflow accounts: MLFLOW_READER_USERNAME must differ from the admin's", file=sys.stderr)
        return 1
    store = SqlAlchemyStore()
    store.init_db(config.database_uri)
    done = ensure_account(store, config.admin_username, config.admin_password, is_admin=True)
    print(f"mlflow accounts: admin {config.admin_username!r} {done}", flush=True)
    done = ensure_account(store, reader, reader_password, is_admin=False)
    print(f"mlflow accounts: read-only {reader!r} {done}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
