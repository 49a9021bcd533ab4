"""The local-mode operator: a BashOperator that does not retry what retrying cannot fix."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

USER_ERROR_EXIT_CODE = 2


class PipelineCommandOperator(BashOperator):
    """Runs one pipeline CLI command. Exit code 2 means a user error (invalid data, bad
    configuration, a model the gates refused): the task fails at once instead of retrying,
    so retries stay for transient failures (a service restarting, a network blip)."""

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except AirflowException as error:
            process = getattr(self.subprocess_hook, "sub_process", None)
            if process is not None and process.returncode == USER_ERROR_EXIT_CODE:
                raise AirflowFailException(
                    "the command reported an error that retrying cannot fix (exit code 2); "
                    "its one-line message is in the log above"
                ) from error
            raise
