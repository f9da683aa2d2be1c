"""Configuration, the command line and (later) state, the run loop and reports."""
