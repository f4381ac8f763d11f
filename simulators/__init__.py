"""Device simulators and scenario replay for testers and drills."""
