"""Pure RFM logic: no network, no files, no clock, no logging of personal data."""
