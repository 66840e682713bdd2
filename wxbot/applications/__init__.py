"""Job applications: status changes from the platform, and the pushes they cause."""
