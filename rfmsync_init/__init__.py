"""rfmsync: RFM segments from shop orders, kept in step with marketing platforms."""

__version__ = "0.1.0"
