"""Config of the webhook sink."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from rfmsync.connectors.base import FieldsSinkConfig

SIGNATURE_HEADER = "X-Rfmsync-Signature"
TIMESTAMP_HEADER = "X-Rfmsync-Timestamp"
BATCH_ID_HEADER = "X-Rfmsync-Batch-Id"
# Headers the sink owns: a config header of the same name would break the signature or the framing.
_RESERVED_HEADERS = frozenset(h.lower() for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER, BATCH_ID_HEADER,
                                                  "Content-Type", "Content-Length", "Host",
                                                  "Transfer-Encoding"))
# Receivers differ: Make refuses bodies over 5 MB (community.make.com/t/52715), n8n over 16 MB by
# default (N8N_PAYLOAD_SIZE_MAX), Express's json() parser over 100 kB. A change is roughly 200-350
# bytes, so the default 500 gives ~100-175 kB and the 10000 ceiling stays under Make's 5 MB.
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 10_000


class WebhookSinkConfig(FieldsSinkConfig):
    type: Literal["webhook"]
    name: str | None = Field(default=None, min_length=1)
    url: str
    # The HMAC key. Written as ${ENV_VAR} in the config file and resolved before validation.
    secret: SecretStr = Field(min_length=1)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE)
    # Read timeout per attempt; most automation tools answer once the workflow has run.
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Extra headers, e.g. an n8n header-auth token: kept out of repr() as they may be secret.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            ok = False
        # The message never repeats the URL: a webhook URL's path is often its only credential.
        if not ok:
            raise ValueError("expected an http:// or https:// URL with a host")
        return value

    @field_validator("headers")
    @classmethod
    def _own_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key, header_value in value.items():
            if key.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {key!r} is set by rfmsync and cannot be configured")
            if not key or any(c in key for c in "\r\n: ") or any(c in header_value for c in "\r\n"):
                raise ValueError(f"header {key!r}: names must be non-empty without spaces or colons, "
                                 "and no name or value may contain a line break")
        return value
