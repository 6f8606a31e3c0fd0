"""An SNS topic on the moto server with an SQS queue subscribed to it: what a notification published
to the topic looks like to a subscriber, read back over HTTP."""

from __future__ import annotations

import json
from typing import Any

import boto3

REGION = "us-east-1"


class AlertQueue:
    """Create topic ``name`` (if missing), a queue of the same name and the subscription between them."""

    def __init__(self, endpoint_url: str, name: str = "message-export-alerts") -> None:
        credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": REGION}
        self._sns = boto3.client("sns", endpoint_url=endpoint_url, **credentials)
        self._sqs = boto3.client("sqs", endpoint_url=endpoint_url, **credentials)
        self.topic_arn: str = self._sns.create_topic(Name=name)["TopicArn"]
        self._queue_url: str = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
        self._sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])

    def messages(self) -> list[dict[str, Any]]:
        """Every notification delivered so far (SNS envelopes: ``Subject``, ``Message``, ...); empties the queue."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            if not batch.get("Messages"):
                return received
            for message in batch["Messages"]:
                received.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def close(self) -> None:
        self._sns.close()
        self._sqs.close()
