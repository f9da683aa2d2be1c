"""The config file: the shipped example validates, and every error names its exact path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from rfmsync.core.custom import check_scheme
from rfmsync.core.errors import ConfigError
from rfmsync.core.scoring import Band
from rfmsync.sync.config import load_config, parse_config, rfm_settings, scheme_report
from rfmsync.sync.score_cmd import load_segments_file

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_validates_with_every_option() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert sorted(config.stores) == ["demo", "gift-shop"]
    demo = rfm_settings(config.stores["demo"], "stores.demo")
    assert (demo.scheme, demo.levels, demo.method) == ("classic", 5, "quantile")
    assert (demo.weights.r, demo.weights.f, demo.weights.m) == (0.4, 0.3, 0.3)
    assert demo.ranges["r"].bands[1] == Band(score=4, low=31, high=90)
    assert config.stores["demo"].rfm.window_days == 730
    gift = rfm_settings(config.stores["gift-shop"], "stores.gift-shop")
    assert not isinstance(gift.scheme, str)
    assert gift.scheme.segment_names == ("VIP", "Loyal", "Winback", "Everyone else")
    assert scheme_report(config.stores["gift-shop"], "stores.gift-shop") == []


def test_custom_scheme_example_validates_and_covers_every_cell() -> None:
    scheme = load_segments_file(ROOT / "examples" / "custom-segments.toml")
    assert scheme.segment_names == ("VIP", "Loyal", "New", "Big spenders slipping", "Winback", "Everyone else")
    check = check_scheme(scheme, 5)
    assert check.unreachable_cells == () and check.dead_rules == ()


def base() -> dict[str, Any]:
    return tomllib.loads('[stores.acme]\ntimezone = "Europe/Berlin"\n[stores.acme.rfm]\nscheme = "classic"\n')


@pytest.mark.parametrize(("change", "path", "message"), [
    (lambda c: c["stores"]["acme"].update(timezone="Berlin"), "stores.acme.timezone", "unknown time zone"),
    (lambda c: c["stores"]["acme"]["rfm"].update(levels=7), "stores.acme.rfm.levels", "Input should be 3, 4 or 5"),
    (lambda c: c["stores"]["acme"]["rfm"].update(scheme="fancy"), "stores.acme.rfm.scheme", "expected one of"),
    (lambda c: c["stores"]["acme"]["rfm"].update(colour="red"), "stores.acme.rfm.colour", "unknown key"),
    (lambda c: c["stores"]["acme"]["rfm"].update(window_days=0), "stores.acme.rfm.window_days", "greater than"),
    (lambda c: c["stores"]["acme"]["rfm"].update(weights={"r": 0.5, "f": 0.5, "m": 0.5}),
     "stores.acme.rfm.weights", "weights must sum to 1"),
    (lambda c: c["stores"]["acme"]["rfm"].update(scheme="responsys", levels=3), "stores.acme.rfm.levels",
     "defined on 5 levels"),
    (lambda c: c["stores"]["acme"]["rfm"].update(method="ranges", ranges={"r": [
        {"score": 5, "min": 0, "max": 30}, {"score": 4, "min": 40, "max": 90}, {"score": 3, "min": 91, "max": 180},
        {"score": 2, "min": 181, "max": 365}, {"score": 1, "min": 366}]}),
     "stores.acme.rfm.ranges.r", "r bands leave a gap between 30 and 40"),
    (lambda c: c["stores"]["acme"]["rfm"].update(ranges={"m": [{"score": 1, "min": 0, "max": 100}]}),
     "stores.acme.rfm.ranges.m", "expected each of 1..5 exactly once"),
    (lambda c: c["stores"]["acme"].update(segments={"rules": [{"name": "A", "fm": [0, 2]}]}),
     "stores.acme", "a segments table is given"),
    (lambda c: (c["stores"]["acme"]["rfm"].update(scheme="custom"),
                c["stores"]["acme"].update(segments={"rules": [{"name": "A", "fm": [0, 2]}]})),
     "stores.acme.segments.rules[0].fm", "expected 1 <= low <= high <= 5"),
    (lambda c: c.update(stores={}), "stores", "at least 1 item"),
])
def test_bad_values_name_their_path(change: Any, path: str, message: str) -> None:
    config = base()
    change(config)
    with pytest.raises(ConfigError) as caught:
        parse_config(config, "rfmsync.toml")
    text = str(caught.value)
    assert text.startswith(f"rfmsync.toml: {path}:"), text
    assert message in text, text


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[stores.a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        load_config(tmp_path / "missing.toml")


def sync_base() -> dict[str, Any]:
    return tomllib.loads('''
[stores.acme]
[[stores.acme.sources]]
type = "csv"
path = "orders.csv"
[[stores.acme.sinks]]
type = "webhook"
url = "https://hooks.example.com/rfm"
secret = "${ACME_HOOK_SECRET}"
''')


@pytest.mark.parametrize(("change", "path", "message"), [
    (lambda c: c["stores"]["acme"]["sinks"][0].update(url="ftp://x"), "stores.acme.sinks[0].url", "http"),
    (lambda c: c["stores"]["acme"]["sinks"][0].update(colour="red"), "stores.acme.sinks[0].colour", "unknown key"),
    (lambda c: c["stores"]["acme"]["sinks"][0].update(type="carrier-pigeon"), "stores.acme.sinks[0]",
     "unknown sink type 'carrier-pigeon'; known: activecampaign, csv, google, hubspot, klaviyo, mailchimp, meta,"
     " webhook"),
    (lambda c: c["stores"]["acme"]["sinks"][0].pop("url"), "stores.acme.sinks[0].url", "required but missing"),
    (lambda c: c["stores"]["acme"]["sinks"][0].update(batch_size=0), "stores.acme.sinks[0].batch_size",
     "greater than or equal to 1"),
    (lambda c: c["stores"]["acme"]["sources"][0].update(lookback_minutes=-5),
     "stores.acme.sources[0].lookback_minutes", "greater than or equal to 0"),
    (lambda c: c["stores"]["acme"].update(schedule="every day"), "stores.acme.schedule", "not a cron expression"),
    # APScheduler-only syntax: the daemon would refuse it, so the config check does too.
    (lambda c: c["stores"]["acme"].update(schedule="0 4 * * mon#2"), "stores.acme.schedule", "not a weekday"),
    (lambda c: c["stores"]["acme"].update(rates={"USD": -1}), "stores.acme.rates", "rate above 0"),
    (lambda c: c["stores"]["acme"]["sinks"].append(dict(c["stores"]["acme"]["sinks"][0])), "stores.acme",
     "two are named 'webhook'"),
    (lambda c: c["stores"]["acme"]["sinks"][0].update(secret="${NOT_SET_ANYWHERE}"),
     "stores.acme.sinks[0].secret", "environment variable NOT_SET_ANYWHERE is not set"),
    (lambda c: c.update(stores={"a b": c["stores"]["acme"]}), "stores", "may hold only letters"),
    (lambda c: c["stores"]["acme"].update(phone_region="XX"), "stores.acme.phone_region", "region code"),
    (lambda c: c["stores"]["acme"].update(rfm={"channels": ["pos", " "]}), "stores.acme.rfm.channels",
     "not empty strings"),
    (lambda c: c["stores"]["acme"]["sources"][0].update(channel="till"), "stores.acme.sources[0].channel",
     "expected one of web, pos, marketplace, staff, subscription, other"),
])
def test_sync_settings_errors_name_their_path(change: Any, path: str, message: str) -> None:
    config = sync_base()
    change(config)
    with pytest.raises(ConfigError) as caught:
        parse_config(config, "rfmsync.toml", environ={"ACME_HOOK_SECRET": "s3cret-value"})
    text = str(caught.value)
    assert text.startswith(f"rfmsync.toml: {path}:"), text
    assert message in text, text
    assert "s3cret-value" not in text


def test_secrets_come_from_the_environment_and_never_print(tmp_path: Path) -> None:
    config = parse_config(sync_base(), "c.toml", base_dir=tmp_path, environ={"ACME_HOOK_SECRET": "s3cret-value"})
    sink = config.stores["acme"].sinks[0]
    assert sink.secret.get_secret_value() == "s3cret-value"  # type: ignore[union-attr]
    assert "s3cret-value" not in repr(config) and "s3cret-value" not in str(config)
    assert config.state_path == tmp_path / ".rfmsync"


def test_cron_weekdays_mean_what_they_mean_in_cron() -> None:
    from datetime import UTC, datetime

    from rfmsync.sync.schedule import next_run

    config = sync_base()
    config["stores"]["acme"]["schedule"] = "0 4 * * 7"  # Sunday, as cron also writes it
    parse_config(config, "c.toml", environ={"ACME_HOOK_SECRET": "x"})
    friday = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert next_run("0 4 * * 7", "UTC", friday) == datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # a Sunday
    assert next_run("30 5 * * 1", "Europe/Berlin", friday).isoformat() == "2026-11-23T05:30:00+01:00"  # Monday


def test_commented_webhook_block_of_the_example_validates() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    block = text[text.index("# [[stores.demo.sinks]]\n# type = \"webhook\""):]
    block = block[:block.index("\n\n")]
    uncommented = text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines()))
    config = parse_config(tomllib.loads(uncommented), "example", base_dir=ROOT,
                          environ={"DEMO_WEBHOOK_SECRET": "s", "DEMO_WEBHOOK_TOKEN": "t"})
    webhook = config.stores["demo"].sinks[1]
    assert (webhook.type, webhook.name, webhook.batch_size, webhook.fields) == ("webhook", "n8n", 500,
                                                                               ["segment", "rfm_cell"])


def test_commented_shopify_block_of_the_example_validates() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index("# [[stores.demo.sources]]\n# type = \"shopify\"")
    block = text[start:text.index("\n\n", start)]
    lines = [line.removeprefix("# ") for line in block.splitlines()
             if not line.startswith(("# client_id", "# client_secret"))]  # one auth method at a time
    config = parse_config(tomllib.loads(text.replace(block, "\n".join(lines))), "example", base_dir=ROOT,
                          environ={"ACME_SHOPIFY_TOKEN": "shpat_x"})
    shopify = config.stores["demo"].sources[1]
    assert (shopify.type, shopify.name, shopify.shop, shopify.api_version, shopify.page_size) == (
        "shopify", "web-shop", "acme.myshopify.com", "2026-10", 250)


def test_commented_mailchimp_block_of_the_example_validates() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index("# [[stores.demo.sinks]]\n# type = \"mailchimp\"")
    block = text[start:text.index("\n\n", start)]
    uncommented = text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines()))
    config = parse_config(tomllib.loads(uncommented), "example", base_dir=ROOT,
                          environ={"DEMO_MAILCHIMP_KEY": "0123abcd-us21"})
    mailchimp = config.stores["demo"].sinks[1]
    assert (mailchimp.type, mailchimp.name, mailchimp.list_id, mailchimp.add_missing_as, mailchimp.fields) == (
        "mailchimp", "newsletter", "a1b2c3d4e5", "transactional", ["segment", "rfm_cell"])


@pytest.mark.parametrize("sink_type", ["klaviyo", "hubspot", "activecampaign"])
def test_commented_email_platform_blocks_of_the_example_validate(sink_type: str) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index(f"# [[stores.demo.sinks]]\n# type = \"{sink_type}\"")
    block = text[start:text.index("\n\n", start)]
    uncommented = text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines()))
    config = parse_config(tomllib.loads(uncommented), "example", base_dir=ROOT, environ={
        "DEMO_KLAVIYO_KEY": "pk_x", "DEMO_HUBSPOT_TOKEN": "pat-x", "DEMO_AC_TOKEN": "t"})
    sink = config.stores["demo"].sinks[1]
    assert sink.type == sink_type and sink.name == sink_type and sink.fields[0] == "segment"


@pytest.mark.parametrize("sink_type", ["meta", "google"])
def test_commented_ad_sink_blocks_of_the_example_validate(sink_type: str) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index(f"# [[stores.demo.sinks]]\n# type = \"{sink_type}\"")
    block = text[start:text.index("\n\n", start)]
    uncommented = text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines()))
    config = parse_config(tomllib.loads(uncommented), "example", base_dir=ROOT,
                          environ={"DEMO_META_TOKEN": "EAAB-token"})
    assert config.stores["demo"].ad_consent == "required"
    sink = config.stores["demo"].sinks[1]
    assert sink.type == sink_type and sink.fields == ["segment", "member"]
    if sink_type == "meta":
        assert (sink.ad_account_id, sink.segments, sink.lookalike.ratio) == (  # type: ignore[attr-defined]
            "act_1234567890", ["Champions", "At Risk"], 0.01)
    else:
        assert (sink.operating_account_id, sink.user_lists) == (  # type: ignore[attr-defined]
            "1234567890", {"Champions": "555", "At Risk": "556"})


META = {"type": "meta", "access_token": "${ACME_HOOK_SECRET}", "ad_account_id": "act_1"}
GOOGLE = {"type": "google", "operating_account_id": "123-456-7890", "user_lists": {"Champions": "555"}}


@pytest.mark.parametrize(("sink", "path", "message"), [
    ({**META, "ad_account_id": "1234"}, "stores.acme.sinks[0].ad_account_id", "act_"),
    ({**META, "segments": ["Lost"], "lookalike": {"seed": "Champions", "country": "DE"}}, "stores.acme.sinks[0]",
     "lookalike.seed 'Champions' must be one of segments"),
    ({**META, "lookalike": {"seed": "Champions", "country": "DE", "ratio": 0.015}},
     "stores.acme.sinks[0].lookalike.ratio", "steps of 0.01"),
    ({**META, "lookalike": {"seed": "Champions", "country": "Germany"}}, "stores.acme.sinks[0].lookalike.country",
     "pattern"),
    ({**META, "default_phone_region": "XX"}, "stores.acme.sinks[0].default_phone_region", "not a region code"),
    ({**META, "batch_size": 20_000}, "stores.acme.sinks[0].batch_size", "less than or equal to 10000"),
    ({**GOOGLE, "user_lists": {"Champions": "list-one"}}, "stores.acme.sinks[0].user_lists",
     "'list-one' is not a user list id"),
    ({**GOOGLE, "operating_account_id": "acme"}, "stores.acme.sinks[0].operating_account_id", "account's number"),
    ({**GOOGLE, "access_token": "x", "credentials_file": "sa.json"}, "stores.acme.sinks[0]", "not both"),
    ({**GOOGLE, "requests_per_minute": 600}, "stores.acme.sinks[0].requests_per_minute", "less than or equal to 300"),
])
def test_ad_sink_settings_errors_name_their_path(sink: dict[str, Any], path: str, message: str) -> None:
    config = sync_base()
    config["stores"]["acme"]["sinks"] = [sink]
    with pytest.raises(ConfigError) as caught:
        parse_config(config, "rfmsync.toml", environ={"ACME_HOOK_SECRET": "s3cret-value"})
    text = str(caught.value)
    assert text.startswith(f"rfmsync.toml: {path}:"), text
    assert message in text, text


def test_ad_consent_takes_only_its_two_words() -> None:
    config = sync_base()
    config["stores"]["acme"]["ad_consent"] = "yes"
    with pytest.raises(ConfigError, match=r"stores.acme.ad_consent: .*'required' or 'not_required'"):
        parse_config(config, "rfmsync.toml", environ={"ACME_HOOK_SECRET": "s"})


def test_commented_woocommerce_block_of_the_example_validates() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index("# [[stores.demo.sources]]\n# type = \"woocommerce\"")
    block = text[start:text.index("\n\n", start)]
    uncommented = text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines()))
    config = parse_config(tomllib.loads(uncommented), "example", base_dir=ROOT,
                          environ={"DEMO_WOO_KEY": "ck_x", "DEMO_WOO_SECRET": "cs_x"})
    woo = config.stores["demo"].sources[1]
    assert (woo.type, woo.name, woo.site, woo.per_page) == (  # type: ignore[attr-defined]
        "woocommerce", "web-shop-woo", "https://shop.example.com", 100)


def test_commented_square_block_of_the_example_validates() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index("# [[stores.demo.sources]]\n# type = \"square\"")
    block = text[start:text.index("\n\n", start)]
    uncommented = text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines()))
    config = parse_config(tomllib.loads(uncommented), "example", base_dir=ROOT, environ={"DEMO_SQUARE_TOKEN": "t"})
    square = config.stores["demo"].sources[1]
    assert (square.type, square.locations, square.lookback_minutes) == (  # type: ignore[attr-defined]
        "square", ["L1ABC", "L2DEF"], 4320)
