"""The notification sections of the config file: who hears about a run, and through which notifier."""

from __future__ import annotations

import importlib
import re

from pydantic import Field, field_validator, model_validator

from message_export.config.strict import StrictSection

_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_ARGUMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SnsChannel(StrictSection):
    """The default channel: an SNS topic, through the amazon provider's ``SnsNotifier``."""

    topic_arn: str
    aws_conn_id: str | None = None  # None: the config's connections.aws
    region_name: str | None = None  # None: the connection's region

    @field_validator("topic_arn")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value.endswith(".fifo"):
            raise ValueError(
                f"{value!r} is a FIFO topic, which needs a message group id that the SNS notifier does not send; "
                "use a standard topic"
            )
        if not _SNS_TOPIC_ARN.match(value):
            raise ValueError(
                f"{value!r} is not an SNS topic ARN; expected arn:aws:sns:<region>:<account id>:<topic name>"
            )
        return value


def import_notifier_class(path: str) -> type:
    """Import ``package.module.Class`` and check it is an Airflow notifier; raise ``ValueError`` saying why not."""
    from airflow.sdk import BaseNotifier

    if not _IMPORT_PATH.match(path):
        raise ValueError(f"{path!r} is not an import path; expected package.module.ClassName")
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"{path!r} does not import ({type(error).__name__}: {error}); install the provider that ships it "
            "(requirements.txt) or correct the path"
        ) from None
    notifier = getattr(module, class_name, None)
    if notifier is None:
        raise ValueError(f"{path!r}: module {module_name!r} has no {class_name!r}; correct the class name")
    if not (isinstance(notifier, type) and issubclass(notifier, BaseNotifier)):
        raise ValueError(
            f"{path!r} is not a notifier (a subclass of airflow.sdk.BaseNotifier); name a notifier class, "
            "e.g. airflow.providers.slack.notifications.slack.SlackNotifier"
        )
    return notifier


class NotifierChannel(StrictSection):
    """Any notifier class, by import path, with its keyword arguments.

    The message goes into the keyword argument ``message_argument`` (and the subject line into
    ``subject_argument`` if given); ``arguments`` are passed as they are (no templating).
    """

    notifier: str
    arguments: dict[str, object] = Field(default_factory=dict)
    message_argument: str = "message"
    subject_argument: str | None = None

    @field_validator("notifier")
    @classmethod
    def _importable(cls, value: str) -> str:
        import_notifier_class(value)
        return value

    @field_validator("message_argument", "subject_argument")
    @classmethod
    def _argument_name(cls, value: str | None) -> str | None:
        if value is not None and not _ARGUMENT_NAME.match(value):
            raise ValueError(f"{value!r} is not a keyword argument name")
        return value

    @model_validator(mode="after")
    def _constructs(self) -> NotifierChannel:
        # build it once with a sample message: a missing or unknown argument shows now, not when a run fails
        for name in (self.message_argument, self.subject_argument):
            if name is not None and name in self.arguments:
                raise ValueError(
                    f"'arguments' sets {name!r}, which carries the export's message; remove it from 'arguments'"
                )
        try:
            self.build("sample message", "sample subject")
        except Exception as error:  # noqa: BLE001 - whatever the class raises, reported with the key
            raise ValueError(
                f"{self.notifier} does not accept these arguments ({type(error).__name__}: {error}); "
                "check 'arguments', 'message_argument' and 'subject_argument' against the notifier's documentation"
            ) from None
        return self

    def build(self, message: str, subject: str) -> object:
        """Return the notifier, constructed with the message (and subject) of one notification."""
        values: dict[str, object] = {**self.arguments, self.message_argument: message}
        if self.subject_argument is not None:
            values[self.subject_argument] = subject
        return import_notifier_class(self.notifier)(**values)


class NotificationSettings(StrictSection):
    """Who hears about a run: failures by default, completed days if asked."""

    on_failure: bool = True
    on_success: bool = False
    sns: SnsChannel | None = None
    notifiers: list[NotifierChannel] = Field(default_factory=list)
