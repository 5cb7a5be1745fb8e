"""The contract as published (docs/openapi.json): our app's own schema, its operations only.

`python -m services.contract > docs/openapi.json` (`make openapi`) writes it; a test fails
when the file and the app drift apart. docs/contract.md says the rest in words.
"""

import json
from typing import Any

from fastapi import FastAPI

from services.app import create_app
from services.openapi import CONTRACT_VERSION

CONTRACT_PATHS = ("/products/{product_id}", "/categories/{category}/products")


def contract_schema(app: FastAPI) -> dict[str, Any]:
    """The published contract (docs/openapi.json): the app's schema, its operations only.

    Health and metrics are ours, not something a service measured by the suite must have.
    """
    schema = dict(app.openapi())
    schema["paths"] = {path: schema["paths"][path] for path in CONTRACT_PATHS}
    schema["info"] = {"title": "cache-invalidation-bench service contract",
                      "version": str(CONTRACT_VERSION)}  # fmt: skip
    return schema


if __name__ == "__main__":
    print(json.dumps(contract_schema(create_app()), indent=2, sort_keys=True))
