"""Config of the Mailchimp sink (docs/platforms.md §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from rfmsync.connectors.base import SinkConfig
from rfmsync.core.fields import PUSHABLE_FIELDS

# Members per /batches call (each needs up to 2 operations). Mailchimp documents no operation cap;
# 500 matches its batch-subscribe limit (§4.2) and keeps each archive small.
DEFAULT_BATCH_SIZE = 500


def data_centre(api_key: str) -> str:
    """The `us21` of `…-us21`: the key says which data centre serves the account (§4)."""
    _, sep, dc = api_key.rpartition("-")
    if not sep or not dc.isalnum():
        raise ValueError("expected a Mailchimp API key ending in its data centre, like …-us21")
    return dc


class MailchimpSinkConfig(SinkConfig):
    type: Literal["mailchimp"]
    api_key: SecretStr
    list_id: str = Field(min_length=1)
    tag_prefix: str = "RFM: "
    # Merge tag -> pushed field. {} writes none.
    merge_fields: dict[str, str] = Field(default_factory=lambda: {"RFM_SEG": "segment", "RFM_CELL": "rfm_cell"})
    add_missing_as: Literal["transactional"] | None = None
    base_url: str | None = None
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=5_000)
    poll_seconds: float = Field(default=5.0, gt=0, le=300)
    # Mailchimp cuts requests off at 120 s (§4.7).
    timeout_seconds: float = Field(default=120.0, gt=0, le=120)

    @field_validator("api_key")
    @classmethod
    def _dc(cls, value: SecretStr) -> SecretStr:
        data_centre(value.get_secret_value())
        return value

    @field_validator("merge_fields")
    @classmethod
    def _merge_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for tag, field in value.items():
            if not (1 <= len(tag) <= 10 and tag.isupper() and tag.replace("_", "").isalnum()):
                raise ValueError(f"merge tag {tag!r}: expected up to 10 capital letters, digits or _")
            if field not in PUSHABLE_FIELDS:
                raise ValueError(f"merge tag {tag}: unknown field {field!r}; fields are {', '.join(PUSHABLE_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _prefix(self) -> MailchimpSinkConfig:
        if not self.tag_prefix.strip():
            raise ValueError("tag_prefix must not be blank: it is how rfmsync tells its tags from the shop's own")
        return self

    @property
    def fields(self) -> list[str]:
        """What a change in is pushed: the segment (the tag) and each merge field's value."""
        return list(dict.fromkeys(["segment", *self.merge_fields.values()]))
