"""Message schemas: the contract between gateway, workers, alerting and UI, validated at both ends."""
