"""Gateway: the HTTP front door. Validates requests and puts tasks and events on Redis; no model code here."""
