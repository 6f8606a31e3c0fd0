"""The config file's ``notifications`` section: channels by import path, errors naming key, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from airflow.sdk import BaseNotifier

from message_export.config import ConfigError, load_config, load_notification_settings

REPO = Path(__file__).resolve().parents[2]
VALID = yaml.safe_load((REPO / "include/config/message_export.yaml").read_text())
TOPIC = "arn:aws:sns:eu-west-1:123456789012:message-export-alerts"
SNS_PATH = "airflow.providers.amazon.aws.notifications.sns.SnsNotifier"


class RecordingNotifier(BaseNotifier):
    """A notifier with a required argument and a differently named message argument."""

    def __init__(self, *, channel: str, text: str, title: str | None = None) -> None:
        super().__init__()
        self.channel, self.text, self.title = channel, text, title

    def notify(self, context):  # pragma: no cover - construction is what config validation checks
        raise NotImplementedError


RECORDING = f"{__name__}.RecordingNotifier"


def write(tmp_path: Path, notifications: object, **top: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**VALID, **top, "notifications": notifications}))
    return path


def error_of(tmp_path: Path, notifications: object) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, notifications))
    return str(error.value)


def test_without_a_section_failures_would_notify_but_no_channel_is_set():
    config = load_config(REPO / "include/config/message_export.yaml")
    assert config.notifications.on_failure is True and config.notifications.on_success is False
    assert config.notifications.sns is None and config.notifications.notifiers == []


def test_an_sns_topic_and_a_notifier_by_import_path(tmp_path):
    path = write(
        tmp_path,
        {
            "on_success": True,
            "sns": {"topic_arn": TOPIC, "region_name": "eu-west-1"},
            "notifiers": [
                {
                    "notifier": RECORDING,
                    "arguments": {"channel": "#data-alerts"},
                    "message_argument": "text",
                    "subject_argument": "title",
                }
            ],
        },
    )
    notifications = load_config(path).notifications
    assert notifications.sns is not None and notifications.sns.topic_arn == TOPIC
    [channel] = notifications.notifiers
    built = channel.build("the text", "the subject")
    assert isinstance(built, RecordingNotifier)
    assert (built.channel, built.text, built.title) == ("#data-alerts", "the text", "the subject")


def test_the_sns_notifier_can_also_be_named_by_its_path(tmp_path):
    path = write(tmp_path, {"notifiers": [{"notifier": SNS_PATH, "arguments": {"target_arn": TOPIC}}]})
    [channel] = load_config(path).notifications.notifiers
    built = channel.build("text", "subject")
    assert (built.target_arn, built.message) == (TOPIC, "text")


@pytest.mark.parametrize(
    ("notifications", "expected"),
    [
        (
            {"notifiers": [{"notifier": "airflow.providers.nowhere.notifications.NoSuchNotifier"}]},
            [
                "key 'notifications.notifiers.0.notifier'",
                "'airflow.providers.nowhere.notifications.NoSuchNotifier' does not import",
                "install the provider",
            ],
        ),
        (
            {"notifiers": [{"notifier": "json.JSONDecoder"}]},
            ["key 'notifications.notifiers.0.notifier'", "'json.JSONDecoder' is not a notifier", "BaseNotifier"],
        ),
        (
            {"notifiers": [{"notifier": "SnsNotifier"}]},
            ["'SnsNotifier' is not an import path", "package.module.ClassName"],
        ),
        (
            {"notifiers": [{"notifier": "json.NoSuchClass"}]},
            ["module 'json' has no 'NoSuchClass'"],
        ),
        (
            {"notifiers": [{"notifier": RECORDING, "message_argument": "text"}]},
            ["key 'notifications.notifiers.0'", "does not accept these arguments", "channel"],
        ),
        (
            {"notifiers": [{"notifier": RECORDING, "arguments": {"channel": "x", "colour": "red"}}]},
            ["does not accept these arguments", "colour"],
        ),
        (
            {
                "notifiers": [
                    {"notifier": RECORDING, "arguments": {"channel": "x", "text": "t"}, "message_argument": "text"}
                ]
            },
            ["'arguments' sets 'text'", "remove it"],
        ),
        (
            {"sns": {"topic_arn": "message-export-alerts"}},
            ["key 'notifications.sns.topic_arn'", "'message-export-alerts' is not an SNS topic ARN"],
        ),
        (
            {"sns": {"topic_arn": TOPIC + ".fifo"}},
            ["FIFO topic", "use a standard topic"],
        ),
        (
            {"sns": {"topic": TOPIC}},
            ["unknown key 'notifications.sns.topic'", "missing key 'notifications.sns.topic_arn'"],
        ),
        ({"on_failure": "sometimes"}, ["key 'notifications.on_failure'", "'sometimes'"]),
    ],
)
def test_a_bad_section_names_the_key_the_value_and_the_fix(tmp_path, notifications, expected):
    message = error_of(tmp_path, notifications)
    for part in expected:
        assert part in message, message
    assert str(tmp_path / "config.yaml") in message


def test_callbacks_read_the_section_even_when_the_rest_of_the_file_is_wrong(tmp_path):
    # a broken elasticsearch section fails the run; the message about it must still go out
    path = write(tmp_path, {"sns": {"topic_arn": TOPIC}}, elasticsearch={"message_index": "Bad Index"})
    with pytest.raises(ConfigError, match=r"elasticsearch\.message_index"):
        load_config(path)
    notifications, connections = load_notification_settings(path)
    assert notifications.sns is not None and notifications.sns.topic_arn == TOPIC
    assert connections.aws == "aws_default"


def test_callbacks_report_a_bad_section_with_its_key(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'notifications.sns.topic_arn'"):
        load_notification_settings(write(tmp_path, {"sns": {"topic_arn": "nope"}}))


def test_an_error_about_a_whole_notifier_shows_its_keys_not_its_argument_values(tmp_path):
    token = "xoxb-Secret-0042"
    message = error_of(tmp_path, {"notifiers": [{"notifier": RECORDING, "arguments": {"token": token}}]})
    assert "does not accept these arguments" in message and "keys given: arguments, notifier" in message
    assert token not in message


def test_the_smtp_notifier_takes_the_message_as_html_content(tmp_path):
    smtp = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
    channel = {
        "notifier": smtp,
        "arguments": {"to": "data-alerts@example.com", "smtp_conn_id": "smtp_default"},
        "message_argument": "html_content",
        "subject_argument": "subject",
    }
    [built] = [
        c.build("<pre>text</pre>", "subject")
        for c in load_config(write(tmp_path, {"notifiers": [channel]})).notifications.notifiers
    ]
    assert (built.to, built.html_content, built.subject) == ("data-alerts@example.com", "<pre>text</pre>", "subject")
