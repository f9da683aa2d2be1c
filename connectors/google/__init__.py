"""Google Customer Match sink through the Data Manager API: each segment's customers in its user
list, hashed, with their recorded consent, changes only (docs/platforms.md §7.2). Google Ads API
Customer Match takes no new users since 2026-04 (§0.1). The google-ads-datamanager SDK is not
used: it does not retry 429 and leaks timeouts as requests exceptions (§7.2); the four JSON
endpoints go through the project's HTTP client, with google-auth for tokens."""

from __future__ import annotations

from rfmsync.connectors.base import Sink
from rfmsync.connectors.google.config import GoogleSinkConfig
from rfmsync.connectors.specs import BuildContext, SinkSpec


def _sink(config: GoogleSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.google.sink import GoogleSink

    credentials = config.credentials_file
    if credentials is not None and not credentials.is_absolute():
        credentials = context.base_dir / credentials
    return GoogleSink(config, consent_required=context.ad_consent_required, credentials_file=credentials)


SINK = SinkSpec("google", GoogleSinkConfig, _sink, preview=True, segments=True)
