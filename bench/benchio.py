"""I/O helpers the bench scripts share: one OVSDB JSON-RPC call over a unix socket, and
reading a server-sent-events stream (HTTP chunked or not) frame by frame."""

import json
import socket


def rpc(sock_path, request):
    """Sends one JSON-RPC request to the ovsdb-server at sock_path; returns its reply."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(json.dumps(request).encode())
    dec, buf = json.JSONDecoder(), ""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit("ovsdb-server closed the connection")
        buf += chunk.decode()
        try:
            reply, _ = dec.raw_decode(buf)
            s.close()
            return reply
        except ValueError:
            continue


def dechunk(raw, body, chunked):
    """Moves whole decoded chunk data from raw to body (bytearrays); False at the last
    chunk."""
    if not chunked:
        body += raw
        del raw[:]
        return True
    while True:
        nl = raw.find(b"\r\n")
        if nl < 0:
            return True
        size = int(bytes(raw[:nl]).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return False
        if len(raw) < nl + 2 + size + 2:
            return True
        body += raw[nl + 2:nl + 2 + size]
        del raw[:nl + 2 + size + 2]


def sse_frames(body):
    """Takes each complete event out of body (a bytearray) and yields (event, id, data
    lines); comments (keepalives) and empty frames are skipped."""
    while True:
        end = body.find(b"\n\n")
        if end < 0:
            return
        frame = bytes(body[:end]).decode()
        del body[:end + 2]
        kind, ev_id, data = "message", None, []
        for line in frame.split("\n"):
            if line.startswith(":"):
                continue  # comment (keepalive)
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                kind = value
            elif field == "id":
                ev_id = int(value)
            elif field == "data":
                data.append(value)
        if data or ev_id is not None:
            yield kind, ev_id, data
