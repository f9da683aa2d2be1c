"""What each built-in segment means and what a shop might do about it, for reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentNote:
    meaning: str
    action: str


_CLASSIC = {
    "Champions": SegmentNote("Bought recently, buy often and spend the most.",
                             "Reward them; ask for reviews; offer early access to new products."),
    "Loyal Customers": SegmentNote("Buy regularly and spend well; respond to promotions.",
                                   "Upsell higher-value products; invite them to a loyalty programme."),
    "Potential Loyalists": SegmentNote("Recent customers with an average number of orders and spend.",
                                       "Offer membership or a loyalty programme; recommend related products."),
    "New Customers": SegmentNote("Bought very recently, but only once or twice.",
                                 "Welcome them; give onboarding help; build the relationship early."),
    "Promising": SegmentNote("Recent buyers who have not spent much yet.",
                             "Build brand awareness; offer free trials or small incentives."),
    "Need Attention": SegmentNote("Above-average recency, frequency and spend, but not lately.",
                                  "Make limited-time offers; recommend based on past purchases."),
    "About to Sleep": SegmentNote("Below-average recency and frequency; will be lost without a nudge.",
                                  "Share popular products; reconnect with a personal offer."),
    "At Risk": SegmentNote("Spent well and bought often, but long ago.",
                           "Send personalised win-back emails; offer renewals and helpful resources."),
    "Can't Lose Them": SegmentNote("Made the biggest and most frequent purchases, but have not returned.",
                                   "Win them back with new products or a strong offer; talk to them."),
    "Hibernating": SegmentNote("Last bought long ago, with few orders and low spend.",
                               "Offer relevant products and special discounts; recreate brand value."),
    "Lost": SegmentNote("Lowest recency, frequency and spend.",
                        "Revive interest with an outreach campaign; otherwise leave them out of spend."),
}

_QUICK_AUDIENCE = {
    "High Value": SegmentNote("Recent, frequent and high-spending: the best customers.",
                              "Keep them delighted: VIP service, exclusive offers, early access."),
    "Key Keep": SegmentNote("Frequent, high-spending customers who have not bought lately.",
                            "Reach out before they drift away: reminders and personal offers."),
    "Key Develop": SegmentNote("Recent high spenders who buy rarely.",
                               "Encourage repeat orders: replenishment reminders, bundles."),
    "Key Retain": SegmentNote("High spenders who buy rarely and not lately.",
                              "Win them back with a targeted offer before they are lost."),
    "General Value": SegmentNote("Recent, frequent buyers with low spend.",
                                 "Raise basket size: cross-sell, free-shipping thresholds."),
    "General Keep": SegmentNote("Frequent low spenders who have not bought lately.",
                                "Remind them with low-cost re-engagement campaigns."),
    "General Develop": SegmentNote("Recent buyers with few orders and low spend, often new.",
                                   "Welcome series and a reason for a second order."),
    "Potential": SegmentNote("Not recent, infrequent and low spend.",
                             "Low-cost broad campaigns; do not over-invest."),
}

_RESPONSYS = {
    "Champions": SegmentNote("Bought recently and often.",
                             "Reward and recognise them; ask for referrals and reviews."),
    "New": SegmentNote("Bought very recently, only once or twice.",
                       "Welcome programme; a reason for the next order."),
    "Promising": SegmentNote("Bought fairly recently, but rarely.",
                             "Nurture with recommendations and time-limited offers."),
    "Can't Lose": SegmentNote("Used to buy often but have not bought lately.",
                              "Win-back campaign with a strong offer; ask what changed."),
    "At Risk": SegmentNote("Bought twice, long ago.",
                           "Re-engage with reminders and personalised offers."),
    "Lost": SegmentNote("Bought once, long ago.",
                        "Occasional low-cost campaigns; leave out of expensive ones."),
}

NOTES: dict[str, dict[str, SegmentNote]] = {
    "classic": _CLASSIC, "quick-audience": _QUICK_AUDIENCE, "responsys": _RESPONSYS,
}

GENERIC = SegmentNote("A segment defined in this store's configuration.",
                      "Decide on a message for this group and review it after the next run.")
NO_SEGMENT = SegmentNote("Customers whose scores no rule of the scheme reaches.",
                         "Add a rule that catches them (rfmsync check-config lists the cells).")


def note_for(scheme: str, segment: str) -> SegmentNote:
    """The note of a built-in scheme's segment; a generic one for custom segments."""
    if segment == "":
        return NO_SEGMENT
    return NOTES.get(scheme, {}).get(segment, GENERIC)
