"""From readings to signals: payload decoding, conditioning, the Modbus read plan. Pure."""
