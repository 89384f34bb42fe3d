"""Asking a lab service from the host: the body of an HTTP GET, or None when nothing
answers. Used by the failover tests and benchmarks to see which node serves a VIP."""

import socket


def http_body(address: str, port: int, timeout: float = 0.3):
    """Body of GET / on address:port (HTTP/1.0), stripped, or None on any failure."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(1)
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
        return data.decode(errors="replace").split("\r\n\r\n", 1)[-1].strip() or None
    except OSError:
        return None
