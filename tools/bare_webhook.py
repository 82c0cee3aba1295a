"""The webhook floor: the least a mutating webhook on souverain's server stack can do.

It serves ``POST /pin`` over TLS with aiohttp and the standard ``ssl`` module, as the
operator's webhook server does, in a process that does nothing else. Each review is
decoded (its ``uid`` must be echoed) and answered with one constant JSON patch: the
node affinity souverain's pinning gives a pod that has none. Whatever the operator's
webhook costs beyond this is the cost of souverain's own code and of the process it
shares with the rest of the operator.

    python tools/bare_webhook.py --listen 127.0.0.1:8443 --cert-dir DIR

prints ``listening`` once it answers; the certificate is made in DIR (its ``ca.crt``
is the bundle to trust).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import sys
from pathlib import Path

from aiohttp import web

from souverain.certificates import serving_certificate
from souverain.devcluster.nodes import SOVEREIGN_LABEL

PATCH = base64.b64encode(
    json.dumps(
        [
            {
                "op": "add",
                "path": "/spec/affinity",
                "value": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": SOVEREIGN_LABEL,
                                            "operator": "In",
                                            "values": ["true"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                },
            }
        ]
    ).encode()
).decode()


async def answer(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    return web.json_response(
        {
            "apiVersion": body.get("apiVersion", "admission.k8s.io/v1"),
            "kind": "AdmissionReview",
            "response": {
                "uid": body["request"]["uid"],
                "allowed": True,
                "patchType": "JSONPatch",
                "patch": PATCH,
            },
        }
    )


async def serve(listen: str, cert_dir: Path) -> None:
    host, _, port = listen.rpartition(":")
    served = serving_certificate(cert_dir, (host or "127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(served.certfile), str(served.keyfile))
    app = web.Application()
    app.router.add_post("/pin", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or None, int(port), ssl_context=context).start()
    print("listening", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--listen", required=True, help="host:port")
    options.add_argument("--cert-dir", required=True, type=Path)
    args = options.parse_args()
    try:
        asyncio.run(serve(args.listen, args.cert_dir))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
