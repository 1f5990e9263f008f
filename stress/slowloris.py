#!/usr/bin/env python3
"""Slowloris against a running uniqd, as issue 13 tried it: one process
opens N connections from one address that each send a request head a byte
at a time, while a normal client from another address of 127.0.0.0/8 (and
one from the dribblers' own) asks GET /random every half second. Prints,
each second, how many dribblers are open and what the normal clients got
(status and time); at the end how long the dribblers lasted and how many
were refused at once.

    python3 stress/slowloris.py --port 8000 --conns 10100 --seconds 30

Needs an open-files limit above --conns (ulimit -n). Standard library only.
"""
import argparse
import selectors
import socket
import threading
import time

HEAD = b"GET /random HTTP/1.1\r\nHost: x\r\nX-Slow: "


def normal(port, source, timeout):
    """One GET /random from source; returns (status or error, seconds)."""
    t = time.time()
    c = socket.socket()
    try:
        c.bind((source, 0))
        c.settimeout(timeout)
        c.connect(("127.0.0.1", port))
        c.sendall(b"GET /random HTTP/1.1\r\nHost: x\r\n\r\n")
        got = c.recv(4096)
        what = got.split(b" ", 2)[1].decode() if got else "closed"
    except socket.timeout:
        what = "timeout"
    except OSError as e:
        what = type(e).__name__
    finally:
        c.close()
    return what, time.time() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--conns", type=int, default=10100)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--every", type=float, default=1.0,
                    help="seconds between two bytes of a dribbler")
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    conns, t0 = [], time.time()
    for _ in range(a.conns):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", a.port))
        conns.append(c)
    print("%d connections opened in %.1f s" % (a.conns, time.time() - t0))
    t0 = time.time()
    ended = {}  # fileno -> (seconds, what)
    lock = threading.Lock()
    stop = threading.Event()

    def drip():
        i = 0
        while not stop.is_set():
            for c in conns:
                fd = c.fileno()
                if fd in ended:
                    continue
                try:
                    got = c.recv(4096)
                    with lock:
                        ended[fd] = (time.time() - t0,
                                     got[:12].decode(errors="replace")
                                     or "closed")
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    with lock:
                        ended[fd] = (time.time() - t0, "reset")
                    continue
                try:
                    c.send(HEAD[i:i + 1] if i < len(HEAD) else b"a")
                except OSError:
                    pass
            i += 1
            stop.wait(a.every)

    t = threading.Thread(target=drip)
    t.start()
    worst = {"127.0.0.2": 0.0, "127.0.0.1": 0.0}
    got = {"127.0.0.2": {}, "127.0.0.1": {}}
    try:
        last = 0
        while time.time() - t0 < a.seconds:
            for src in worst:
                what, secs = normal(a.port, src, 8)
                worst[src] = max(worst[src], secs) if what == "200" \
                    else worst[src]
                got[src][what] = got[src].get(what, 0) + 1
            if int(time.time() - t0) != last:
                last = int(time.time() - t0)
                with lock:
                    n = len(ended)
                print("%3d s: %5d dribblers open; normal from 127.0.0.2 %s, "
                      "from 127.0.0.1 %s" % (last, a.conns - n,
                                             got["127.0.0.2"],
                                             got["127.0.0.1"]))
            time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    with lock:
        v = list(ended.values())
    quick = [x for x in v if x[0] < 1]
    late = [x for x in v if x[0] >= 1]
    print("refused within 1 s: %d; closed later: %d (%.1f to %.1f s, %s); "
          "still open: %d" %
          (len(quick), len(late), min((x[0] for x in late), default=0),
           max((x[0] for x in late), default=0),
           sorted(set(x[1] for x in late)), a.conns - len(v)))
    for src in worst:
        print("normal client from %s: %s, slowest 200 in %.3f s" %
              (src, got[src], worst[src]))
    for c in conns:
        c.close()


if __name__ == "__main__":
    main()
