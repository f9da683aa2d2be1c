"""Each source's own channel names mapped to rfmsync's channel classes (core.models.CHANNELS), so a
store filters on "pos" whatever system the point of sale is; the source's name stays the detail.

- Shopify `sourceName`: "web" the online store, "pos" Shopify POS, "shopify_draft_order" an order
  staff created in the admin, "iphone"/"android" the admin apps, "subscription_contract" a renewal;
  a sales channel app (a marketplace such as Amazon or eBay) sends its app id or handle: other.
  https://shopify.dev/docs/api/admin-graphql/latest/objects/Order#field-sourceName
- WooCommerce `created_via`: "checkout" and "store-api" (the block checkout) the web shop, "admin"
  staff, "subscription" a WooCommerce Subscriptions renewal, a POS plugin's own name ("pos",
  "woocommerce-pos") the point of sale; "rest-api" and anything else: other.
- Square: every order is a point-of-sale order except those its `source.name` marks as from Square
  Online (web) or from a marketplace integration through Square (Square names them after the
  application: other).
"""

from __future__ import annotations

_SHOPIFY = {"web": "web", "pos": "pos", "shopify_draft_order": "staff", "iphone": "staff", "android": "staff",
            "subscription_contract": "subscription"}
_WOOCOMMERCE = {"checkout": "web", "store-api": "web", "admin": "staff", "subscription": "subscription",
                "pos": "pos", "woocommerce-pos": "pos"}


def shopify_channel(source_name: str | None) -> str | None:
    if source_name is None:
        return None
    return _SHOPIFY.get(source_name.strip().lower(), "other")


def woocommerce_channel(created_via: str | None) -> str | None:
    if created_via is None:
        return None
    return _WOOCOMMERCE.get(created_via.strip().lower(), "other")


def square_channel(source_name: str | None) -> str:
    if source_name is None:
        return "pos"
    name = source_name.lower()
    if "online" in name or "ecom" in name:
        return "web"
    if "point of sale" in name or "pos" in name.split() or name in ("square", "register"):
        return "pos"
    return "other"
