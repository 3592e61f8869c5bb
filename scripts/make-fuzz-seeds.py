#!/usr/bin/env python3
"""Writes the starting seeds of the fuzz corpora (fuzz/corpus/<target>/seed-*).

Packets come from src/fixtures/oer-vectors.json (made by ilp-packet); the other targets get
hand-written inputs in the layout their checks in src/fuzz_checks.rs expect (parts split at 0xff).
The fuzzers add their own finds next to these; `cargo fuzz cmin` keeps the corpus small.
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
corpus = root / "fuzz" / "corpus"


def write(target, name, data):
    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


vectors = json.loads((root / "src" / "fixtures" / "oer-vectors.json").read_text())
for kind in ("prepares", "fulfills", "rejects", "ildcpResponses"):
    for i, vector in enumerate(vectors[kind]):
        write("packet_reader", f"{kind}-{i}", bytes.fromhex(vector["hex"]))

for i, header in enumerate([
    b"Bearer static-token-for-fuzzing",
    b"static-token-for-fuzzing",
    b"bearer static-token-for-fuzzing",
    b"Bearer  static-token-for-fuzzing",
    b"Bearer",
    b"",
    b"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
]):
    write("authorization_header", str(i), header)

for i, (header, payload) in enumerate([
    (b'{"alg":"HS256","typ":"JWT"}', b'{"iat":1700000000,"exp":4000000000}'),
    (b'{"alg":"HS256"}', b'{"exp":4000000000,"nbf":1000}'),
    (b'{"alg":"none"}', b'{"exp":4000000000}'),
    (b'{"alg":"HS512","typ":"JWT"}', b'{"exp":4000000000}'),
    (b'{"alg":"RS256","typ":"JWT"}', b'{"exp":4000000000}'),
    (b'{"alg":"HS256"}', b'{"iat":1700000000}'),
    (b'{"alg":"HS256"}', b'{"exp":1000}'),
    (b'{"alg":"HS256"}', b'{"exp":4000000000.5}'),
    (b'{"alg":"HS256","crit":["x"]}', b'{"exp":"4000000000"}'),
]):
    write("jwt_verification", str(i), header + b"\xff" + payload)

for i, (template, client, destination) in enumerate([
    (b"http://%.example.com:8080/ilp", b"test.parent", b"test.parent.alice.xyz"),
    (b"https://peer.example/%/ilp?x=1", b"g.hub", b"g.hub.bob"),
    (b"http://127.0.0.1:%/", b"g.hub", b"g.hub.8080"),
    (b"http://127.0.0.1:%/", b"g.hub", b"g.hub.abc"),
    (b"http://[::1]:99/%%", b"g.hub", b"g.hub.c-d_e.f"),
    (b"http://fixed.example/", b"g.hub", b"g.hub.x"),
    (b"http://%@evil/", b"g.hub", b"g.hub.user"),
]):
    write("url_template", str(i), template + b"\xff" + client + b"\xff" + destination)
