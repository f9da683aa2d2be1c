"""Sources and sinks: one module per platform or file format."""
