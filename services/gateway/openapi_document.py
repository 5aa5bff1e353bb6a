"""Writes the gateway's OpenAPI document, from which the web app's API client types are generated:
`python -m services.gateway.openapi_document web/openapi.json` (`make web-api` runs it, then
openapi-typescript). Built from the routes alone: no database, broker or settings needed."""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    os.environ.setdefault("ATELIER_INTERNAL_TOKEN", "document-only")
    from services.gateway.app import build

    document = build().app.openapi()
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
