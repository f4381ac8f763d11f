"""TLS to the broker: the context paho's ``tls_set`` would build, with errors that say which
file is the matter (a file that cannot be used is reported and retried, never fatal)."""

from __future__ import annotations

import ssl

from adapters.mqtt_values import MqttSettings

CHECK_TLS = ("broker.tls: ca_file must hold the CA that signed the broker's certificate; "
             "cert_file/key_file, if the broker asks for one, a client certificate signed by a "
             "CA the broker trusts")


class TlsSetupError(Exception):
    """The TLS files cannot be used (missing, unreadable, not PEM, a protected key)."""


def _no_passphrase() -> str:
    # Without a callback OpenSSL would prompt on the terminal, blocking the event loop.
    raise TlsSetupError("the key is passphrase-protected: give an unencrypted key file "
                        "(readable only by the gateway's user)")


def file_error(exc: BaseException) -> str:
    if isinstance(exc, TlsSetupError):
        return str(exc)
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.strerror:
        return exc.strerror  # "No such file or directory", "Permission denied"
    return str(exc) or type(exc).__name__


def wants_tls(s: MqttSettings) -> bool:
    return s.tls or bool(s.ca_file or s.cert_file)

def tls_context(s: MqttSettings) -> ssl.SSLContext:
    """What paho's ``tls_set`` builds, with errors that say which file is the matter.

    Built at the first connection attempt, not in the constructor: an unreadable
    certificate is reported and retried like a refusing broker (the files may be deployed
    after the gateway starts) instead of ending the daemon, whose Modbus side still works.
    """
    # PROTOCOL_TLS_CLIENT: the broker's chain and its host name are verified
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if s.ca_file:
            context.load_verify_locations(cafile=s.ca_file)
        else:
            context.load_default_certs()
    except OSError as exc:  # ssl.SSLError is an OSError
        raise TlsSetupError(f"broker.tls.ca_file {s.ca_file}: {file_error(exc)}",
                             ) from None
    if s.cert_file:
        try:
            context.load_cert_chain(s.cert_file, s.key_file, password=_no_passphrase)
        except (OSError, ValueError, TlsSetupError) as exc:
            raise TlsSetupError(f"broker.tls.cert_file {s.cert_file} / key_file "
                                f"{s.key_file or '(in cert_file)'}: {file_error(exc)}",
                                 ) from None
    context.check_hostname = not s.tls_insecure
    return context
