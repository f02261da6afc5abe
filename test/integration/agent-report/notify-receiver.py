# Test stand-in for systemd's notification socket: binds a unix datagram socket
# at argv[1], prints "listening", then prints one JSON line per datagram with its
# text and the sender's credentials (pid), until stdin closes.
import json
import os
import select
import socket
import struct
import sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("listening", flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
        break
    if s in ready:
        data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(struct.calcsize("iII")))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[: struct.calcsize("iII")])[0]
        print(json.dumps({"text": data.decode("utf-8", "replace"), "pid": pid}), flush=True)
