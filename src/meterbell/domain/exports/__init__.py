"""Data exports: the pure parts (time windows, schedules, aggregation, file layout and
encoding, operational data sources) that the export services and workers build on."""
