"""An example third-party sink for rfmsync: each customer's segment as fields on a CRM contact.

The CRM ("Example CRM") has one endpoint that matters: ``PUT {base_url}/contacts/{id}`` with a
JSON body, an idempotent upsert keyed by the shop's customer id, authenticated with a bearer
token. What the sink does with each change:

- entered, moved, updated: ``PUT`` the contact with ``rfm_segment``, ``rfm_cell`` and ``email``;
- left: ``PUT`` it with ``rfm_segment`` and ``rfm_cell`` null (the contact itself stays);
- a 422 for one contact (the CRM refuses its email, say) rejects that customer only; the rest of
  the batch goes on. 401/403 stop the sink for the run; 429/5xx are retried by rfmsync's policy.

It registers through the ``rfmsync.sinks`` entry point in pyproject.toml and is configured like a
built-in sink::

    [[stores.acme.sinks]]
    type = "example_crm"
    base_url = "https://crm.example.com/api"
    token = "${EXAMPLE_CRM_TOKEN}"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal
from urllib.parse import quote

from pydantic import SecretStr
from rfmsync.connectors.base import ConfiguredSink, FieldsSinkConfig, PushResult, Sink
from rfmsync.connectors.http_client import HttpClient
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.specs import BuildContext, SinkSpec
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import PermanentError


class ExampleCrmConfig(FieldsSinkConfig):
    type: Literal["example_crm"]
    base_url: str
    token: SecretStr
    batch_size: int = 100


class ExampleCrmSink(ConfiguredSink):
    config: ExampleCrmConfig

    def __init__(self, config: ExampleCrmConfig, retry: RetryPolicy | None = None) -> None:
        self.config = config
        # show_path=False: a contact URL holds the customer key, which for a guest is their email.
        self.http = HttpClient(config.base_url, retry=retry, origin="example_crm", show_path=False,
                               headers={"Authorization": f"Bearer {config.token.get_secret_value()}"})

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        accepted: list[str] = []
        rejected: dict[str, str] = {}
        for change in changes:
            left = change.kind is ChangeKind.LEFT
            body = {"email": change.email, "rfm_segment": None if left else change.new_segment,
                    "rfm_cell": None if left else change.fields.get("rfm_cell")}
            try:
                self.http.request("PUT", f"/contacts/{quote(change.customer_key, safe='')}", json=body)
            except PermanentError as exc:
                if exc.status != 422:
                    raise
                rejected[change.customer_key] = f"refused by the CRM ({exc.code or 422})"
            else:
                accepted.append(change.customer_key)
        return PushResult(accepted=accepted, rejected=rejected)

    def close(self) -> None:
        self.http.close()


def _build(config: ExampleCrmConfig, context: BuildContext) -> Sink:
    return ExampleCrmSink(config)


SINK = SinkSpec("example_crm", ExampleCrmConfig, _build)
