"""The wire: the gateway as a process against a real Mosquitto, real pymodbus servers,
Chromium; kills, restarts, TLS, full disks."""
