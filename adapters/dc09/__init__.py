"""SIA DC-09: alarm panels reporting over IP (TCP or UDP) to the center's receiver, with
Contact ID (ADM-CID) or SIA (SIA-DCS) events, optionally AES-encrypted per account. ``message``
frames, checks, decrypts and answers messages; ``receiver`` is the listener."""
