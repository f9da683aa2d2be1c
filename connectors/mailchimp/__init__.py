"""Mailchimp sink: a segment tag and merge fields on each audience member (docs/platforms.md §4).

The mailchimp-marketing SDK is used for the Marketing API calls (lists, merge fields, `/batches`
and its status) in api.py; it has no retries of its own, so each call runs under the project's
retry policy, and its two traps (undecoded problem+json errors, empty-bodied responses returned
instead of raised) are handled there. The batch results archive is a signed storage URL the SDK
cannot fetch: it is downloaded with the project's HTTP client.
"""

from __future__ import annotations

from rfmsync.connectors.base import Sink
from rfmsync.connectors.mailchimp.config import MailchimpSinkConfig
from rfmsync.connectors.specs import BuildContext, SinkSpec


def _sink(config: MailchimpSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.mailchimp.sink import MailchimpSink

    return MailchimpSink(config)


SINK = SinkSpec("mailchimp", MailchimpSinkConfig, _sink, preview=True, segments=True)
