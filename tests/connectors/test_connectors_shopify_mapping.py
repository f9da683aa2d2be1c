"""Shopify order nodes to Orders, from trimmed payloads shaped like the Admin GraphQL API's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rfmsync.connectors.base import RejectedRecord
from rfmsync.connectors.shopify.source import ShopifySourceConfig, time_filter
from rfmsync.core.models import Order, OrderStatus


def node(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "gid://shopify/Order/5001", "createdAt": "2026-10-01T10:00:00Z", "updatedAt": "2026-10-02T08:00:00Z",
        "cancelledAt": None, "test": False, "email": "order-email@example.com", "sourceName": "web",
        "displayFinancialStatus": "PAID",
        "currentTotalPriceSet": {"shopMoney": {"amount": "55.00", "currencyCode": "EUR"}},
        "customer": {"id": "gid://shopify/Customer/77", "defaultEmailAddress": {"emailAddress": "ada@example.com"}},
    }
    base.update(overrides)
    return base


def mapped(**overrides: Any) -> Order:
    from rfmsync.connectors.shopify.mapping import order_from_node

    result = order_from_node(node(**overrides), "shopify:acme")
    assert isinstance(result, Order), result
    return result


def test_paid_order() -> None:
    order = mapped()
    assert (order.order_id, order.customer_key, order.email, order.amount, order.currency, order.status,
            order.channel) == ("5001", "77", "ada@example.com", Decimal("55.00"), "EUR", OrderStatus.PAID, "web")
    assert order.created_at.isoformat() == "2026-10-01T10:00:00+00:00"
    assert order.updated_at is not None and order.updated_at.isoformat() == "2026-10-02T08:00:00+00:00"


@pytest.mark.parametrize(("overrides", "amount", "status", "counted"), [
    # currentTotalPriceSet is already net of refunds: 80.00 ordered, 25.00 refunded.
    ({"displayFinancialStatus": "PARTIALLY_REFUNDED",
      "currentTotalPriceSet": {"shopMoney": {"amount": "55.00", "currencyCode": "EUR"}}},
     "55.00", OrderStatus.PARTIALLY_REFUNDED, True),
    ({"displayFinancialStatus": "REFUNDED", "currentTotalPriceSet": {"shopMoney": {"amount": "0.00",
                                                                                   "currencyCode": "EUR"}}},
     "0.00", OrderStatus.REFUNDED, False),
    ({"cancelledAt": "2026-10-03T09:00:00Z", "displayFinancialStatus": "REFUNDED"}, "55.00",
     OrderStatus.CANCELLED, False),
    ({"test": True}, "55.00", OrderStatus.TEST, False),
    ({"displayFinancialStatus": "VOIDED"}, "55.00", OrderStatus.VOIDED, False),
    ({"displayFinancialStatus": "EXPIRED"}, "55.00", OrderStatus.VOIDED, False),
    ({"displayFinancialStatus": "AUTHORIZED"}, "55.00", OrderStatus.PENDING, True),
])
def test_refunds_cancellations_and_tests(overrides: dict[str, Any], amount: str, status: OrderStatus,
                                         counted: bool) -> None:
    order = mapped(**overrides)
    assert (order.amount, order.status, order.counted) == (Decimal(amount), status, counted)


def test_guest_and_redacted_customers() -> None:
    guest = mapped(customer=None, email="guest@example.com")
    assert (guest.customer_key, guest.email) == (None, "guest@example.com")
    # Protected customer data without Level 2 access: Shopify leaves the email fields null.
    redacted = mapped(email=None, customer={"id": "gid://shopify/Customer/78", "defaultEmailAddress": None})
    assert (redacted.customer_key, redacted.email) == ("78", None)
    # Customer.defaultEmailAddress wins over the order's email (the customer may have changed it).
    assert mapped(email="old@example.com").email == "ada@example.com"


def test_multi_currency_uses_shop_money() -> None:
    order = mapped(currentTotalPriceSet={"shopMoney": {"amount": "4990", "currencyCode": "JPY"},
                                         "presentmentMoney": {"amount": "30.12", "currencyCode": "EUR"}})
    assert (order.amount, order.currency) == (Decimal("4990"), "JPY")


def test_malformed_nodes_are_rejected_with_reason() -> None:
    from rfmsync.connectors.shopify.mapping import order_from_node

    missing = order_from_node(node(currentTotalPriceSet=None), "s")
    assert isinstance(missing, RejectedRecord) and missing.position == "order 5001"
    bad_date = order_from_node(node(createdAt="yesterday"), "s")
    assert isinstance(bad_date, RejectedRecord) and bad_date.reason == "ValueError"
    assert "ada@example.com" not in f"{missing} {bad_date}"


def test_time_filter_is_quoted_utc() -> None:
    from datetime import datetime, timedelta, timezone

    berlin = datetime(2026, 11, 1, 4, 30, tzinfo=timezone(timedelta(hours=1)))
    assert time_filter(berlin) == "updated_at:>='2026-11-01T03:30:00Z'"
    assert time_filter(None) is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"shop": "acme.com", "access_token": "t"}, "myshopify.com domain"),
    ({"shop": "acme.myshopify.com"}, "either access_token, or both client_id and client_secret"),
    ({"shop": "acme.myshopify.com", "access_token": "t", "client_id": "i", "client_secret": "s"}, "either"),
    ({"shop": "acme.myshopify.com", "client_id": "i"}, "both client_id and client_secret"),
    ({"shop": "acme.myshopify.com", "access_token": "t", "api_version": "2026-03"}, "quarterly API version"),
    ({"shop": "acme.myshopify.com", "access_token": "t", "page_size": 500}, "less than or equal to 250"),
])
def test_config_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShopifySourceConfig.model_validate({"type": "shopify", **fields})


def test_config_normalizes_the_shop_and_hides_secrets() -> None:
    config = ShopifySourceConfig.model_validate({"type": "shopify", "shop": "https://Acme.myshopify.com/",
                                                 "client_id": "abc", "client_secret": "very-secret"})
    assert config.shop == "acme.myshopify.com" and config.api_version == "2026-10"
    assert "very-secret" not in repr(config)


def test_bulk_columns_hold_exactly_what_the_models_hold() -> None:
    from fake_shopify import FakeShopify
    from rfmsync.connectors.shopify.mapping import columns_from_nodes, order_from_node

    with FakeShopify(time_scale=0) as fake:
        nodes = list(fake.generate_orders(3000, customers=400, seed=5))
    nodes += [node(id=f"gid://shopify/Order/{9000 + i}", **bad) for i, bad in enumerate([
        {"currentTotalPriceSet": None}, {"createdAt": "yesterday"}, {"createdAt": "2026-10-01T10:00:00"},
        {"currentTotalPriceSet": {"shopMoney": {"amount": "1e15", "currencyCode": "EUR"}}},
        {"currentTotalPriceSet": {"shopMoney": {"amount": "NaN", "currencyCode": "EUR"}}},
        {"currentTotalPriceSet": {"shopMoney": {"amount": "5", "currencyCode": "E1"}}},
        {"email": "  ", "customer": None}, {"test": True}, {"cancelledAt": "2026-10-03T00:00:00Z"},
        {"currentTotalPriceSet": {"shopMoney": {"amount": "-12.50", "currencyCode": "usd"}}}])]
    models = [order_from_node(n, "shopify:acme") for n in nodes]
    columns, rejects = columns_from_nodes(nodes, "shopify:acme")
    assert columns is not None
    as_columns = {o.order_id: o for o in columns.as_orders()}
    as_models = {o.order_id: o for o in models if isinstance(o, Order)}
    assert len(as_models) == 3000 + 4 and as_columns.keys() == as_models.keys()
    # `as_orders` gives whole seconds, the unit the ledger keeps.
    assert {o.channel for o in as_columns.values()} >= {"web", "pos"}
    for key, model in as_models.items():
        assert as_columns[key] == model.model_copy(update={
            "created_at": model.created_at.replace(microsecond=0),
            "updated_at": (model.updated_at or model.created_at).replace(microsecond=0)}), key
    assert [(r.position, r.reason) for r in rejects] == [
        (r.position, r.reason) for r in models if isinstance(r, RejectedRecord)]
    assert [r.position for r in rejects] == [f"order {9000 + i}" for i in range(6)]


@pytest.mark.parametrize(("email_state", "sms_state", "expected"), [
    ("SUBSCRIBED", "SUBSCRIBED", (True, True)),
    ("SUBSCRIBED", "NOT_SUBSCRIBED", (True, False)),
    ("PENDING", "UNSUBSCRIBED", (False, False)),  # double opt-in not confirmed is no consent
    ("INVALID", "REDACTED", (False, False)),
    (None, None, (None, None)),  # not recorded: never taken for consent
])
def test_marketing_consent_and_phone_come_from_the_customer(email_state: str | None, sms_state: str | None,
                                                            expected: tuple[bool | None, bool | None]) -> None:
    customer = {"id": "gid://shopify/Customer/77",
                "defaultEmailAddress": {"emailAddress": "ada@example.com", "marketingState": email_state},
                "defaultPhoneNumber": {"phoneNumber": "+4915112345678", "marketingState": sms_state}}
    order = mapped(customer=customer)
    assert (order.email_consent, order.sms_consent) == expected
    assert order.phone == "+4915112345678"


def test_bulk_columns_carry_consent_and_phone() -> None:
    from rfmsync.connectors.shopify.mapping import columns_from_nodes

    customer = {"id": "gid://shopify/Customer/77",
                "defaultEmailAddress": {"emailAddress": "ada@example.com", "marketingState": "SUBSCRIBED"},
                "defaultPhoneNumber": None}
    columns, rejects = columns_from_nodes([node(customer=customer), node(id="gid://shopify/Order/5002")], "s")
    assert columns is not None and not rejects
    assert columns.email_consent is not None and columns.email_consent.tolist() == [True, None]
    assert columns.sms_consent is not None and columns.sms_consent.tolist() == [None, None]
    assert columns.phone is not None and columns.phone.tolist() == [None, None]
