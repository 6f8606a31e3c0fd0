"""Known failures of a step as one task error that names the problem, the value and the fix."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
)

from message_export.config import ConfigError
from message_export.hooks.archive import ArchiveError
from message_export.hooks.search_errors import SearchError
from message_export.ledger.errors import TrackingError
from message_export.resources import DeploymentError
from message_export.windows import (
    WindowError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


_CONN_ID = re.compile(r"conn_id `([^`]*)`")


def explain_failures(step: Callable[..., T]) -> Callable[..., T]:
    """Turn known failures into one line that names the problem, the value and the fix.

    A deployment or configuration error, a missing connection, index or bucket, or wrong credentials
    fail the task without retries (retrying cannot help); a failure whose type is retryable (an
    unreachable service, partial results) fails it for Airflow to retry.
    """

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return step(*args, **kwargs)
        except (DeploymentError, ConfigError, WindowError, ArchiveError) as error:
            raise AirflowFailException(str(error)) from None
        except AirflowNotFoundException as error:
            match = _CONN_ID.search(str(error))
            conn_id = match[1] if match else str(error)
            raise AirflowFailException(
                f"Airflow connection '{conn_id}' is not defined; create it (Admin → Connections) or set "
                f"AIRFLOW_CONN_{conn_id.upper()}, or change 'connections' in the config file"
            ) from None
        except (SearchError, TrackingError) as error:
            if error.retryable:
                raise AirflowException(str(error)) from None
            raise AirflowFailException(str(error)) from None

    return wrapper
