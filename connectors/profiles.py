"""What the email-platform sinks (Klaviyo, HubSpot, ActiveCampaign) share about the profiles they
update: a change's email as platforms look profiles up by it, and the list (or tag) moves a batch
of changes asks for."""

from __future__ import annotations

from collections.abc import Sequence

from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.models import normalize_email


def email_of(change: Change) -> str | None:
    """The change's email normalized (trimmed, lower-cased), or None when it has none."""
    return normalize_email(change.email) if change.email and change.email.strip() else None


def list_moves(changes: Sequence[Change]) -> dict[str, tuple[list[Change], list[Change]]]:
    """Segment -> (changes to add to its list, changes to remove from it): entered adds, left
    removes, moved does both; an update of other fields touches no list."""
    moves: dict[str, tuple[list[Change], list[Change]]] = {}
    for change in changes:
        if change.old_segment and change.kind in (ChangeKind.MOVED, ChangeKind.LEFT):
            moves.setdefault(change.old_segment, ([], []))[1].append(change)
        if change.new_segment and change.kind in (ChangeKind.MOVED, ChangeKind.ENTERED):
            moves.setdefault(change.new_segment, ([], []))[0].append(change)
    return moves
