"""meterbell: events & notifications for usage-based billing, speaking the m3ter API."""

__version__ = "0.1.0"
