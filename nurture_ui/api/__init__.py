"""The inbound events API (``/api/v1``): signed JSON events from a CRM or mail system."""
