"""The accounts of the compose Airflow (FAB auth manager): an admin and a read-only viewer.

Run at every start by the compose service `airflow-init` (in the Airflow image), after
`airflow db migrate` has created FAB's tables and roles: each account from deployment/.env is
created with its role, or, when it exists, given the password and the role from `.env` (a
changed password applies on the next `up`). Idempotent.

The FAB CLI has `users create` (which leaves an existing account as it is) and
`users reset-password`, each a fresh Airflow process of several seconds; one process here does
both for both accounts through the same security manager the CLI uses.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
from airflow.utils.providers_configuration_loader import providers_configuration_loaded

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str  # one of FAB's roles: Admin, Op, User, Viewer, Public


def ensure_account(security_manager: Any, account: Account) -> str:
    """Create ACCOUNT, or give the existing one its password and (only) its role."""
    role = security_manager.find_role(account.role)
    if role is None:
        raise SystemExit(f"FAB has no role {account.role!r}: run `airflow db migrate` first")
    user = security_manager.find_user(username=account.username)
    if user is None:
        created = security_manager.add_user(
            account.username,
            account.username,
            account.role.lower(),
            f"{account.username}@localhost",
            role,
            account.password,
        )
        if not created:
            raise SystemExit(f"could not create the Airflow account {account.username}")
        return "created"
    if not security_manager.reset_password(user.id, account.password):
        raise SystemExit(f"could not set the password of the Airflow account {account.username}")
    user = security_manager.find_user(username=account.username)
    if [r.name for r in user.roles] != [account.role]:
        user.roles = [role]
        security_manager.update_user(user)
    return "updated"


def accounts_from_env() -> list[Account]:
    admin, viewer = os.environ["AIRFLOW_ADMIN_USER"], os.environ["AIRFLOW_VIEWER_USER"]
    if admin == viewer:
        raise SystemExit(
            f"AIRFLOW_ADMIN_USER and AIRFLOW_VIEWER_USER are both {admin!r}: give the "
            "read-only account its own name in deployment/.env"
        )
    return [
        Account(admin, os.environ["AIRFLOW_ADMIN_PASSWORD"], "Admin"),
        Account(viewer, os.environ["AIRFLOW_VIEWER_PASSWORD"], "Viewer"),
    ]


@providers_configuration_loaded
def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with get_application_builder() as appbuilder:
        for account in accounts_from_env():
            done = ensure_account(appbuilder.sm, account)
            logger.info("Airflow account %s (%s) %s", account.username, account.role, done)


if __name__ == "__main__":
    main()
