"""Gateway: the HTTP front door. Validates requests, puts prediction calls and events on Redis; no model code here."""
